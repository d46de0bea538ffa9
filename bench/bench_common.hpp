// What the make bench drivers share: libpq calls that die loudly, and
// percentiles.
#pragma once

#include <libpq-fe.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace bench {

[[noreturn]] inline void Die(const std::string &what, PGconn *conn)
{
    std::fprintf(stderr, "bench: %s: %s\n", what.c_str(), conn ? PQerrorMessage(conn) : "");
    std::exit(2);
}

inline PGconn *Connect(const std::string &conninfo)
{
    PGconn *conn = PQconnectdb(conninfo.c_str());
    if (PQstatus(conn) != CONNECTION_OK)
        Die("connect", conn);
    return conn;
}

// Runs sql with text parameters; the caller PQclear()s the result.
inline PGresult *Exec(PGconn *conn, const std::string &sql, std::vector<const char *> params = {})
{
    PGresult *r = PQexecParams(conn, sql.c_str(), static_cast<int>(params.size()), nullptr,
                               params.data(), nullptr, nullptr, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK)
        Die(sql, conn);
    return r;
}

// Runs sql with text parameters; the first column of the first row, or "".
inline std::string Value(PGconn *conn, const std::string &sql, std::vector<const char *> params = {})
{
    PGresult *r = Exec(conn, sql, std::move(params));
    std::string v = PQntuples(r) > 0 && PQnfields(r) > 0 ? PQgetvalue(r, 0, 0) : "";
    PQclear(r);
    return v;
}

// p-th percentile (0-100) of sorted values, interpolated.
inline double Percentile(const std::vector<double> &sorted, double p)
{
    if (sorted.empty())
        return 0;
    double rank = p / 100.0 * (sorted.size() - 1);
    size_t lo = static_cast<size_t>(rank), hi = std::min(lo + 1, sorted.size() - 1);
    return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
}

}  // namespace bench
