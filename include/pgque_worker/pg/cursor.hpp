// Reading a query's rows a chunk at a time, so that a batch of any size is
// read whole in bounded memory.
//
//   pg::Cursor c = pg::Cursor::Open(tx, "SELECT ... FROM pgque.receive($1, $2, $3) m", args);
//   while (SPITupleTable *rows = c.Fetch(100)) { ...; pg::FreeRows(rows); }
//   c.Close();
//
// A held cursor (DECLARE ... WITH HOLD) outlives the transaction that opens
// it: its rows are kept at commit (in a tuplestore that spills to disk past
// work_mem), and later transactions find it by name. It goes away with the
// session, or with Close().
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "pgque_worker/pg/spi.hpp"

struct SPITupleTable;

namespace pgque::pg {

class Cursor {
public:
    // A cursor of this transaction.
    static Cursor Open(Transaction &tx, const std::string &sql, const std::vector<Value> &args);
    // A held cursor named `name` (a leftover of that name is closed first).
    static Cursor OpenHeld(Transaction &tx, const char *name, const std::string &sql,
                           const std::vector<Value> &args);
    // The held cursor `name`, in a later transaction; Valid() is false when
    // there is none.
    static Cursor Find(const char *name);

    bool Valid() const { return portal_ != nullptr; }
    // While shielded the cursor counts as running: code called meanwhile
    // (a handler, which can find it in pg_cursors) cannot FETCH, MOVE or
    // CLOSE it; PostgreSQL refuses with "portal ... cannot be run" or
    // "cannot drop active portal". See CursorShield.
    void SetShielded(bool shielded) noexcept;
    // The next rows, at most count; nullptr at the end. Free them with
    // FreeRows once done (or leave them to the transaction's end).
    SPITupleTable *Fetch(long count);
    void Close();

private:
    explicit Cursor(void *portal) : portal_(portal) {}
    void *portal_;
};

// Shields a cursor for the scope of the object: the handlers of a slice run
// while the batch's cursor is open, and another owner's handler must not
// read or close it (that would skip or lose messages, or crash the worker).
class CursorShield {
public:
    explicit CursorShield(Cursor &cursor) : cursor_(cursor) { cursor_.SetShielded(true); }
    ~CursorShield() { cursor_.SetShielded(false); }
    CursorShield(const CursorShield &) = delete;
    CursorShield &operator=(const CursorShield &) = delete;

private:
    Cursor &cursor_;
};

void FreeRows(SPITupleTable *rows);
// Rows in memory: how much row i of rows takes.
std::size_t RowBytes(const SPITupleTable *rows, std::size_t i);
// The rows as text (as Transaction::Query returns them).
std::vector<Row> RowsAsText(SPITupleTable *rows);

}  // namespace pgque::pg
