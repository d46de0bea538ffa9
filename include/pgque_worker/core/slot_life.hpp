// The life cycle of a worker slot (database or consumer), free of
// PostgreSQL: the one protocol by which slots are assigned, given a process,
// attached, stopped, released and freed. src/worker/slot_table.cpp applies
// these transitions to shared memory under the locks; src/worker/README.md
// draws the machine.
//
// Every transition is a named function that checks the state it leaves (and,
// for a process's own transitions, the generation it was started with): from
// any other state it changes nothing and returns false. So a stale actor (a
// process started for a slot that has since been freed and reassigned, a
// handle holder that looks late) can never move a slot that is no longer its
// own. The slot is plain data: it lives in shared memory.
#pragma once

#include <cstdint>
#include <vector>

namespace pgque::core {

enum class SlotPhase : int {
    Free = 0,    // no database / consumer
    Waiting,     // assigned, no process: started when StartDueAt() says
    Registered,  // a process was asked of the postmaster; it has not attached
    Attached,    // a process runs the slot
    Stopping,    // asked to stop; its process (if it ever attaches) exits
};
const char *SlotPhaseName(SlotPhase phase);

// Why a stop was asked: it decides what the slot becomes once its process
// has gone.
enum class StopCause : int {
    None = 0,
    Release,      // its reason to exist ended (paused, dropped, DROP EXTENSION / DATABASE): freed
    Limit,        // over max_workers / max_consumer_workers: freed (assigned again, to wait, later)
    Hold,         // DROP / RENAME / CREATE DATABASE ... TEMPLATE runs: waits, restarted later
};
const char *StopCauseName(StopCause cause);

// How a process ended.
enum class ExitKind : int {
    Failure = 0,  // an error or a crash: counts towards the back-off
    Restart,      // clean; start again at once (pgque_worker.role changed)
    Release,      // clean; its reason to exist ended: free the slot
    Done,         // clean; stay assigned without a process (e.g. no extension, asked to stop)
};

struct SlotLife {
    SlotPhase phase;
    StopCause stop_cause;
    std::uint32_t generation;  // bumped whenever a process is asked for, and when freed
    std::int32_t pid;          // 0 unless Attached (or Stopping after it attached)
    int failures;              // consecutive failed starts/exits
    bool start_refused;        // the last start found no free background worker slot
    std::int64_t assigned_at;
    std::int64_t registered_at;
    std::int64_t attached_at;
    std::int64_t exited_at;          // 0: start at once
    std::int64_t stop_requested_at;
};

// Free -> Waiting. A new slot starts at once with no failures.
bool Assign(SlotLife &s, std::int64_t now);
// Waiting -> Registered; *generation: the process's ticket (bgw_extra).
bool Register(SlotLife &s, std::int64_t now, std::uint32_t *generation);
// Registered|Stopping (never attached), generation: the postmaster had no
// free background worker slot. -> Waiting (retried after the back-off), or
// Free when a Release stop was asked meanwhile.
bool StartRefused(SlotLife &s, std::uint32_t generation, std::int64_t now);

enum class AttachResult { Attached, NotOurs, StopAsked };
// Registered with this generation -> Attached. Stopping (asked before the
// process attached) with this generation: the process must exit at once
// (call Exit with ExitKind::Done, or Release for a Release stop).
AttachResult Attach(SlotLife &s, std::uint32_t generation, std::int32_t pid, std::int64_t now);

enum class StopAction { None, SignalProcess, Freed };
// Registered|Attached -> Stopping (SignalProcess when a process is attached:
// set its latch). Waiting: Free for Release and Limit (Freed), unchanged
// otherwise. Stopping: a Release or Limit cause replaces a weaker one.
StopAction RequestStop(SlotLife &s, StopCause cause, std::int64_t now);

// The process of this generation and pid exits (from its exit callback).
// Attached|Stopping -> Waiting, or Free for ExitKind::Release and after a
// Release or Limit stop. A stop's cause decides over the exit's kind. False
// when the slot was not the process's.
bool Exit(SlotLife &s, std::uint32_t generation, std::int32_t pid, ExitKind kind, std::int64_t now);

// The handle of this generation says the process is gone but the slot was
// not left by it (it died before attaching, or without its exit callback).
// Registered|Attached|Stopping -> Waiting with a failure counted, or Free
// after a Release stop.
bool Vanished(SlotLife &s, std::uint32_t generation, std::int64_t now);

// Attached, generation: the process did useful work; a later failure
// restarts it at once. False (nothing changed) in any other state.
bool MarkHealthy(SlotLife &s, std::uint32_t generation);

// Waiting -> Free: nothing to run any more (database gone, consumer not
// wanted, database not served).
bool Release(SlotLife &s);

// ---- Decisions ---------------------------------------------------------

// When a Waiting slot is started: its exit plus RestartDelayUs(failures)
// (schedule.hpp).
std::int64_t StartDueAt(const SlotLife &s);
bool StartDue(const SlotLife &s, std::int64_t now);

// A slot whose process counts towards a limit: it has one or will have one.
bool HoldsProcess(const SlotLife &s);

struct RunningSlot {
    int index;
    std::int64_t since;  // when it was assigned (newest first is stopped first)
};
// Which of `running` to stop so that at most `limit` remain: the newest
// first (the latest assigned), oldest kept.
std::vector<int> ExcessNewestFirst(std::vector<RunningSlot> running, int limit);

// How many of `wanting` (slots asked for, in order of preference) get one
// when `in_use` of `limit` are taken.
int SlotsToGrant(int wanting, int in_use, int limit);

}  // namespace pgque::core
