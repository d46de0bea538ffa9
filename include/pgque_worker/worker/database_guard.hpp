// DROP DATABASE, ALTER DATABASE ... RENAME and CREATE DATABASE ... TEMPLATE
// refuse to run while any other process is connected to the database. A
// ProcessUtility hook stops that database's worker first (and keeps the
// launcher from restarting it for a while), so these commands work as if
// pgque_worker were not there.
#pragma once

namespace pgque::worker {

void InstallDatabaseGuard();

}  // namespace pgque::worker
