// Into PostgreSQL from C++: pg::Call runs a piece of code that calls backend
// functions and turns a PostgreSQL ERROR (a longjmp) into a pg::Error (a C++
// exception).
//
//     Datum d = pg::Call([&] { return SPI_getbinval(tuple, desc, 1, &isnull); });
//
// The rule that keeps the two unwinding models apart: the code inside the
// lambda, and everything it calls, must not create C++ objects with
// destructors, because a longjmp skips them. Keep such objects outside the
// lambda, in the caller. The result must be a scalar (Datum, a pointer, an
// integer, bool).
#pragma once

#include <type_traits>

#include "pgque_worker/pg/error.hpp"
#include "pgque_worker/pg/postgres.hpp"

namespace pgque::pg {

// After a PG_CATCH: switches back to caller_context, copies and flushes the
// error state, and throws it as pg::Error.
[[noreturn]] void ThrowCaughtError(MemoryContext caller_context);

template <typename Fn>
auto Call(Fn &&fn) -> decltype(fn())
{
    using Result = decltype(fn());
    static_assert(std::is_void_v<Result> || std::is_scalar_v<Result>,
                  "pg::Call may only return scalars (Datum, pointers, integers, bool)");

    MemoryContext caller_context = CurrentMemoryContext;
    volatile bool failed = false;
    if constexpr (std::is_void_v<Result>) {
        PG_TRY();
        {
            fn();
        }
        PG_CATCH();
        {
            failed = true;
        }
        PG_END_TRY();
        if (failed)
            ThrowCaughtError(caller_context);
    } else {
        // volatile: assigned between setjmp and a possible longjmp.
        volatile Result result{};
        PG_TRY();
        {
            result = fn();
        }
        PG_CATCH();
        {
            failed = true;
        }
        PG_END_TRY();
        if (failed)
            ThrowCaughtError(caller_context);
        return result;
    }
}

}  // namespace pgque::pg
