// Out of C++ into PostgreSQL: every function PostgreSQL calls (SQL-callable
// functions, worker mains, hooks, callbacks) runs its body through pg::Entry.
//
//     extern "C" Datum my_sql_function(PG_FUNCTION_ARGS)
//     {
//         return pgque::pg::Entry([&]() -> Datum { ... C++ ... });
//     }
//
// Any C++ exception is caught, its text copied into a static report (no
// allocation), and re-raised with ereport(ERROR) only after every C++ scope
// of the body has closed. A pg::Error keeps its SQLSTATE, detail and hint.
#pragma once

#include <type_traits>

#include "pgque_worker/pg/postgres.hpp"

namespace pgque::pg {

// Records the exception being handled; call only inside a catch block.
void StashCurrentException() noexcept;

// Raises the stashed exception as a PostgreSQL ERROR.
[[noreturn]] void RaiseStashedException();

template <typename Fn>
auto Entry(Fn &&fn) -> decltype(fn())
{
    using Result = decltype(fn());
    static_assert(std::is_void_v<Result> || std::is_trivially_destructible_v<Result>,
                  "pg::Entry may only return trivially destructible values");

    bool failed = false;
    if constexpr (std::is_void_v<Result>) {
        try {
            fn();
        } catch (...) {
            StashCurrentException();
            failed = true;
        }
        if (failed)
            RaiseStashedException();
    } else {
        Result result{};
        try {
            result = fn();
        } catch (...) {
            StashCurrentException();
            failed = true;
        }
        if (failed)
            RaiseStashedException();
        return result;
    }
}

}  // namespace pgque::pg
