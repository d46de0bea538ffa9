// The workers' statements, planned once per process.
//
// The workers run the same few statements thousands of times a second (a
// tick, a batch, an ack); parsing and planning each one again cost more than
// running it. A plan kept here is PostgreSQL's own cached plan
// (SPI_keepplan): DDL on what it uses (DROP EXTENSION, a replaced function,
// another search_path or role for RLS) re-plans it at its next use, exactly
// as a prepared statement would be.
#pragma once

#include <cstddef>
#include <string>

struct _SPI_plan;

namespace pgque::pg {

// The kept plan of sql with nargs TEXT parameters and the given cursor
// options (0 for a statement), prepared at its first use; nullptr when the
// cache is full (the caller then runs sql unplanned, as before). The cache
// holds at most kMaxKeptPlans statements: the workers' SQL is a fixed set of
// texts, so a full cache means a caller builds texts with values in them.
// C++ code: a PostgreSQL error while planning is thrown as pg::Error.
_SPI_plan *KeptPlan(const std::string &sql, int nargs, int cursor_options);

constexpr std::size_t kMaxKeptPlans = 128;

}  // namespace pgque::pg
