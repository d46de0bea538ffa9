// SQL from C++: one transaction per unit of work, statements through SPI,
// results copied into C++ values before SPI lets go of them.
//
//     pg::Transaction tx("pgque_worker: ticking", pg::Isolation::RepeatableRead);
//     auto rows = tx.Query("SELECT pgque.ticker($1)", {queue_name});
//     tx.Commit();
//
// Arguments are passed as text parameters, never spliced into the SQL text.
// A PostgreSQL error becomes a pg::Error; a Transaction that is destroyed
// without Commit() (an exception went past it) rolls back.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "pgque_worker/pg/error.hpp"

struct SPITupleTable;

namespace pgque::pg {

using Value = std::optional<std::string>;  // SQL NULL is nullopt
using Row = std::vector<Value>;

enum class Isolation { ReadCommitted, RepeatableRead };

class Transaction {
public:
    // Starts a transaction, connects SPI and reports `activity` in
    // pg_stat_activity.
    Transaction(const char *activity, Isolation isolation = Isolation::ReadCommitted);
    ~Transaction();
    Transaction(const Transaction &) = delete;
    Transaction &operator=(const Transaction &) = delete;

    std::vector<Row> Query(const std::string &sql, const std::vector<Value> &args = {});
    // The rows as SPI returned them, valid until the transaction ends: for
    // code that passes Datums on (inside pg::Call) rather than text.
    SPITupleTable *Execute(const std::string &sql, const std::vector<Value> &args = {});
    // First column of the first row (nullopt for NULL or no row).
    Value QueryValue(const std::string &sql, const std::vector<Value> &args = {});

    // Runs body in a subtransaction: its effects are kept when it returns,
    // rolled back when it throws a pg::Error, which is then returned (the
    // transaction goes on). Other exceptions roll back and propagate.
    std::optional<Error> Subtransaction(const std::function<void()> &body);

    // For the rest of this transaction, wait at most `timeout` (e.g. "1s")
    // for a lock, then fail with SQLSTATE 55P03 (lock_not_available).
    void SetLockTimeout(const char *timeout);

    void Commit();

private:
    void Abort() noexcept;
    bool open_ = false;
};

// Whether e is a lock wait given up by SetLockTimeout.
bool IsLockTimeout(const Error &e);

// Arguments as SPI takes them (TEXT parameters), palloc'd in the current
// memory context. PostgreSQL code: call inside pg::Call.
struct SpiArgs {
    int n;
    unsigned int *types;
    unsigned long *values;  // Datums
    char *nulls;
};
SpiArgs ToSpiArgs(const std::vector<const char *> &texts);
// The C strings of args (nullptr for NULL), valid while args lives.
std::vector<const char *> ArgTexts(const std::vector<Value> &args);

// The server clock, microseconds since 2000-01-01 (PostgreSQL's TimestampTz).
long long NowUs();

}  // namespace pgque::pg
