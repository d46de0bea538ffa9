// Wakes the database worker when a transaction that wrote events commits, so
// that it ticks within milliseconds instead of waiting for its next check.
//
// Every backend has the module (shared_preload_libraries). An ExecutorStart
// hook notes INSERTs into event tables and UPDATEs of consumer subscriptions
// of the queue engine (tables event_* and subscription in schema pgq or
// pgque); at commit, a transaction callback records the transaction id and
// start time in the database's slot and sets the worker's latch. Nothing is
// done in databases pgque_worker does not serve.
#pragma once

namespace pgque::worker {

void InstallCommitWakeup();

// Wakes this database's worker when the current transaction commits: the
// consumer configuration changed (trigger on pgque_worker.consumer/route).
void WakeWorkerForConfigAtCommit();

// Makes the launcher look for new databases to serve when the current
// transaction commits (called by CREATE EXTENSION pgque_worker).
void WakeLauncherAtCommit();

}  // namespace pgque::worker
