#include "pgque_worker/pg/cursor.hpp"

#include "pgque_worker/pg/guard.hpp"
#include "pgque_worker/pg/plan_cache.hpp"
#include "pgque_worker/pg/postgres.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
}

namespace pgque::pg {


Cursor Cursor::Open(Transaction &, const std::string &sql, const std::vector<Value> &args)
{
    std::vector<const char *> texts = ArgTexts(args);
    SPIPlanPtr plan = KeptPlan(sql, static_cast<int>(texts.size()), CURSOR_OPT_NO_SCROLL);
    return Cursor(Call([&]() -> void * {
        SpiArgs a = ToSpiArgs(texts);
        Portal portal = plan ? SPI_cursor_open(nullptr, plan, a.values, a.nulls, false)
                             : SPI_cursor_open_with_args(nullptr, sql.c_str(), a.n, a.types, a.values, a.nulls,
                                                         false, CURSOR_OPT_NO_SCROLL);
        return portal;
    }));
}

Cursor Cursor::OpenHeld(Transaction &tx, const char *name, const std::string &sql,
                        const std::vector<Value> &args)
{
    Cursor leftover = Find(name);
    if (leftover.Valid())
        leftover.Close();
    std::string quoted = Call([&] { return quote_identifier(name); });
    tx.Execute("DECLARE " + quoted + " NO SCROLL CURSOR WITH HOLD FOR " + sql, args);
    Cursor held = Find(name);
    if (!held.Valid())
        throw Error(ERRCODE_INTERNAL_ERROR, std::string("cursor ") + name + " was not declared");
    return held;
}

Cursor Cursor::Find(const char *name)
{
    return Cursor(Call([&]() -> void * { return SPI_cursor_find(name); }));
}

SPITupleTable *Cursor::Fetch(long count)
{
    return Call([&]() -> SPITupleTable * {
        SPI_cursor_fetch(static_cast<Portal>(portal_), true, count);
        if (SPI_processed == 0) {
            SPI_freetuptable(SPI_tuptable);
            return nullptr;
        }
        return SPI_tuptable;
    });
}

// Only the status changes: a READY portal becomes ACTIVE and back. An abort
// of a handler's subtransaction leaves it alone (the portal was created and
// last run at the batch's level), and the shield ends before the batch's
// transaction does.
void Cursor::SetShielded(bool shielded) noexcept
{
    Portal portal = static_cast<Portal>(portal_);
    if (!portal)
        return;
    if (shielded && portal->status == PORTAL_READY)
        portal->status = PORTAL_ACTIVE;
    else if (!shielded && portal->status == PORTAL_ACTIVE)
        portal->status = PORTAL_READY;
}

void Cursor::Close()
{
    if (!portal_)
        return;
    Call([&] { SPI_cursor_close(static_cast<Portal>(portal_)); });
    portal_ = nullptr;
}

void FreeRows(SPITupleTable *rows)
{
    if (rows)
        Call([&] { SPI_freetuptable(rows); });
}

std::size_t RowBytes(const SPITupleTable *rows, std::size_t i) { return rows->vals[i]->t_len; }

std::vector<Row> RowsAsText(SPITupleTable *rows)
{
    if (!rows)
        return {};
    const uint64 nrows = rows->numvals;
    const int ncols = rows->tupdesc->natts;
    char **cells = nullptr;
    Call([&] {
        cells = static_cast<char **>(palloc0(sizeof(char *) * (nrows * ncols + 1)));
        for (uint64 r = 0; r < nrows; r++)
            for (int c = 0; c < ncols; c++)
                cells[r * ncols + c] = SPI_getvalue(rows->vals[r], rows->tupdesc, c + 1);
    });
    std::vector<Row> out(nrows, Row(ncols));
    for (uint64 r = 0; r < nrows; r++)
        for (int c = 0; c < ncols; c++)
            if (const char *cell = cells[r * ncols + c])
                out[r][c] = std::string(cell);
    Call([&] {
        for (uint64 k = 0; k < nrows * ncols; k++)
            if (cells[k])
                pfree(cells[k]);
        pfree(cells);
    });
    return out;
}

}  // namespace pgque::pg
