#include "pgque_worker/core/slot_life.hpp"

#include <algorithm>

#include "pgque_worker/core/schedule.hpp"

namespace pgque::core {

namespace {

// Whatever the slot was, it now belongs to nobody: any ticket issued for it
// is void.
void MakeFree(SlotLife &s)
{
    const std::uint32_t generation = s.generation + 1;
    s = SlotLife{};
    s.generation = generation;
}

void MakeWaiting(SlotLife &s, int failures, std::int64_t exited_at)
{
    s.phase = SlotPhase::Waiting;
    s.stop_cause = StopCause::None;
    s.pid = 0;
    s.failures = failures;
    s.exited_at = exited_at;
    s.stop_requested_at = 0;
}

bool CauseFrees(StopCause cause) { return cause == StopCause::Release || cause == StopCause::Limit; }

// A Stopping slot whose process is gone (or never came): its cause decides.
void SettleStop(SlotLife &s, std::int64_t now)
{
    switch (s.stop_cause) {
    case StopCause::Release:
    case StopCause::Limit:
        MakeFree(s);
        return;
    case StopCause::Hold:
    case StopCause::None:
        MakeWaiting(s, s.failures, now);
        return;
    }
}

}  // namespace

const char *SlotPhaseName(SlotPhase phase)
{
    switch (phase) {
    case SlotPhase::Free: return "free";
    case SlotPhase::Waiting: return "waiting";
    case SlotPhase::Registered: return "registered";
    case SlotPhase::Attached: return "attached";
    case SlotPhase::Stopping: return "stopping";
    }
    return "unknown";
}

const char *StopCauseName(StopCause cause)
{
    switch (cause) {
    case StopCause::None: return "";
    case StopCause::Release: return "no longer wanted";
    case StopCause::Limit: return "over the limit";
    case StopCause::Hold: return "held for a database command";
    }
    return "unknown";
}

bool Assign(SlotLife &s, std::int64_t now)
{
    if (s.phase != SlotPhase::Free)
        return false;
    const std::uint32_t generation = s.generation;
    s = SlotLife{};
    s.generation = generation;
    s.phase = SlotPhase::Waiting;
    s.assigned_at = now;
    return true;
}

bool Register(SlotLife &s, std::int64_t now, std::uint32_t *generation)
{
    if (s.phase != SlotPhase::Waiting)
        return false;
    s.phase = SlotPhase::Registered;
    s.generation++;
    s.registered_at = now;
    s.pid = 0;
    *generation = s.generation;
    return true;
}

bool StartRefused(SlotLife &s, std::uint32_t generation, std::int64_t now)
{
    const bool never_attached = s.phase == SlotPhase::Registered || (s.phase == SlotPhase::Stopping && s.pid == 0);
    if (!never_attached || s.generation != generation)
        return false;
    if (s.phase == SlotPhase::Stopping) {
        SettleStop(s, now);
        return true;
    }
    MakeWaiting(s, s.failures + 1, now);
    s.start_refused = true;
    return true;
}

AttachResult Attach(SlotLife &s, std::uint32_t generation, std::int32_t pid, std::int64_t now)
{
    if (s.generation != generation || s.pid != 0)
        return AttachResult::NotOurs;
    if (s.phase == SlotPhase::Stopping) {
        s.pid = pid;  // so that its Exit is recognised
        return AttachResult::StopAsked;
    }
    if (s.phase != SlotPhase::Registered)
        return AttachResult::NotOurs;
    s.phase = SlotPhase::Attached;
    s.pid = pid;
    s.attached_at = now;
    s.start_refused = false;
    return AttachResult::Attached;
}

StopAction RequestStop(SlotLife &s, StopCause cause, std::int64_t now)
{
    switch (s.phase) {
    case SlotPhase::Free:
        return StopAction::None;
    case SlotPhase::Waiting:
        if (!CauseFrees(cause))
            return StopAction::None;
        MakeFree(s);
        return StopAction::Freed;
    case SlotPhase::Registered:
    case SlotPhase::Attached:
        s.phase = SlotPhase::Stopping;
        s.stop_cause = cause;
        s.stop_requested_at = now;
        break;
    case SlotPhase::Stopping:
        if (CauseFrees(cause) && !CauseFrees(s.stop_cause))
            s.stop_cause = cause;
        break;
    }
    return s.pid != 0 ? StopAction::SignalProcess : StopAction::None;
}

bool Exit(SlotLife &s, std::uint32_t generation, std::int32_t pid, ExitKind kind, std::int64_t now)
{
    if ((s.phase != SlotPhase::Attached && s.phase != SlotPhase::Stopping) || s.generation != generation ||
        s.pid != pid)
        return false;
    if (s.phase == SlotPhase::Stopping) {
        SettleStop(s, now);
        return true;
    }
    switch (kind) {
    case ExitKind::Failure: MakeWaiting(s, s.failures + 1, now); break;
    case ExitKind::Restart: MakeWaiting(s, 0, 0); break;
    case ExitKind::Release: MakeFree(s); break;
    case ExitKind::Done: MakeWaiting(s, 0, now); break;
    }
    return true;
}

bool Vanished(SlotLife &s, std::uint32_t generation, std::int64_t now)
{
    const bool has_process = s.phase == SlotPhase::Registered || s.phase == SlotPhase::Attached ||
                             s.phase == SlotPhase::Stopping;
    if (!has_process || s.generation != generation)
        return false;
    if (s.phase == SlotPhase::Stopping)
        SettleStop(s, now);
    else
        MakeWaiting(s, s.failures + 1, now);
    return true;
}

bool MarkHealthy(SlotLife &s, std::uint32_t generation)
{
    if (s.phase != SlotPhase::Attached || s.generation != generation)
        return false;
    s.failures = 0;
    return true;
}

bool Release(SlotLife &s)
{
    if (s.phase != SlotPhase::Waiting)
        return false;
    MakeFree(s);
    return true;
}

std::int64_t StartDueAt(const SlotLife &s) { return s.exited_at + RestartDelayUs(s.failures); }

bool StartDue(const SlotLife &s, std::int64_t now) { return s.phase == SlotPhase::Waiting && now >= StartDueAt(s); }

bool HoldsProcess(const SlotLife &s)
{
    return s.phase == SlotPhase::Registered || s.phase == SlotPhase::Attached || s.phase == SlotPhase::Stopping;
}

std::vector<int> ExcessNewestFirst(std::vector<RunningSlot> running, int limit)
{
    std::vector<int> stop;
    if (limit < 0)
        limit = 0;
    if (static_cast<int>(running.size()) <= limit)
        return stop;
    // Newest first; among equals the higher index (assigned later in a pass).
    std::sort(running.begin(), running.end(), [](const RunningSlot &a, const RunningSlot &b) {
        return a.since != b.since ? a.since > b.since : a.index > b.index;
    });
    for (std::size_t i = 0; i < running.size() - static_cast<std::size_t>(limit); i++)
        stop.push_back(running[i].index);
    return stop;
}

int SlotsToGrant(int wanting, int in_use, int limit)
{
    return std::max(0, std::min(wanting, limit - in_use));
}

}  // namespace pgque::core
