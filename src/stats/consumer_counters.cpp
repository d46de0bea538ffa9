// Per-consumer counters in shared memory (see the header): the hash, its
// eviction, and the file that carries it over a clean restart.
#include "pgque_worker/stats/consumer_counters.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "pgque_worker/config/settings.hpp"
#include "pgque_worker/pg/entry.hpp"
#include "pgque_worker/pg/guard.hpp"

extern "C" {
#include "miscadmin.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/hsearch.h"
}

namespace pgque::stats {

namespace {

struct CounterKey {
    Oid database;
    int32 consumer_id;
};

struct CounterEntry {
    CounterKey key;  // first: the hash's key
    slock_t mutex;   // guards everything below
    std::uint64_t identity;
    Oid owner;
    ConsumerCounts counts;
    TimestampTz since;
    TimestampTz last_batch_at;
    TimestampTz last_error_at;
    char last_error[kLastErrorSize];
};

struct CounterShared {
    LWLock *lock;  // the hash: shared to find or read entries, exclusive to add or remove
    slock_t mutex;
    std::int64_t evictions;
};

// The file: a header, then `count` entries as they are in memory. A file of
// another layout (another version of the module) is ignored.
struct FileHeader {
    uint32 magic;
    uint32 version;
    uint32 entry_size;
    uint32 count;
};
constexpr uint32 kFileMagic = 0x50515743;  // "PQWC"
constexpr uint32 kFileVersion = 1;  // with the layout of CounterEntry (entry_size checks it too)
constexpr const char *kFile = "pg_stat/pgque_worker_counters.stat";
constexpr const char *kTempFile = "pg_stat/pgque_worker_counters.stat.tmp";

CounterShared *shared = nullptr;
HTAB *hash = nullptr;
shmem_request_hook_type prev_shmem_request_hook = nullptr;
shmem_startup_hook_type prev_shmem_startup_hook = nullptr;

Size SharedSize()
{
    return add_size(MAXALIGN(sizeof(CounterShared)),
                    hash_estimate_size(config::MaxTrackedConsumers(), sizeof(CounterEntry)));
}

void RequestSharedMemory()
{
    if (prev_shmem_request_hook)
        prev_shmem_request_hook();
    pg::Entry([] {
        RequestAddinShmemSpace(SharedSize());
        RequestNamedLWLockTranche("pgque_worker counters", 1);
    });
}

// Caller holds the lock exclusively. Removes the entry that has been idle
// longest (never counted a batch, or the oldest last batch).
void EvictLeastRecentlyActive()
{
    HASH_SEQ_STATUS seq;
    CounterEntry *oldest = nullptr;
    hash_seq_init(&seq, hash);
    for (auto *e = static_cast<CounterEntry *>(hash_seq_search(&seq)); e;
         e = static_cast<CounterEntry *>(hash_seq_search(&seq))) {
        if (!oldest || e->last_batch_at < oldest->last_batch_at)
            oldest = e;
    }
    if (!oldest)
        return;
    CounterKey key = oldest->key;
    hash_search(hash, &key, HASH_REMOVE, nullptr);
    SpinLockAcquire(&shared->mutex);
    shared->evictions++;
    SpinLockRelease(&shared->mutex);
}

// Caller holds the lock exclusively. The entry of key, created (zeroed)
// when missing; nullptr only if the hash has no room even after evicting.
CounterEntry *FindOrCreate(const CounterKey &key, TimestampTz now)
{
    bool found = false;
    auto *e = static_cast<CounterEntry *>(hash_search(hash, &key, HASH_FIND, nullptr));
    if (e)
        return e;
    if (hash_get_num_entries(hash) >= config::MaxTrackedConsumers())
        EvictLeastRecentlyActive();
    e = static_cast<CounterEntry *>(hash_search(hash, &key, HASH_ENTER_NULL, &found));
    if (e && !found) {
        std::memset(reinterpret_cast<char *>(e) + sizeof(CounterKey), 0, sizeof(CounterEntry) - sizeof(CounterKey));
        SpinLockInit(&e->mutex);
        e->since = now;
    }
    return e;
}

// At a clean shutdown (in the postmaster, after every process has exited):
// writes the hash to kFile. Nothing after a crash (code != 0).
void SaveCounters(int code, Datum)
{
    pg::Entry([&] {
        if (code != 0 || !hash)
            return;
        FILE *file = AllocateFile(kTempFile, PG_BINARY_W);
        if (!file) {
            ereport(LOG, (errcode_for_file_access(), errmsg("could not write file \"%s\": %m", kTempFile)));
            return;
        }
        FileHeader header = {kFileMagic, kFileVersion, sizeof(CounterEntry),
                             static_cast<uint32>(hash_get_num_entries(hash))};
        bool ok = fwrite(&header, sizeof header, 1, file) == 1;
        HASH_SEQ_STATUS seq;
        hash_seq_init(&seq, hash);
        for (auto *e = static_cast<CounterEntry *>(hash_seq_search(&seq)); e;
             e = static_cast<CounterEntry *>(hash_seq_search(&seq))) {
            if (ok && fwrite(e, sizeof *e, 1, file) != 1)
                ok = false;
        }
        if (FreeFile(file) != 0)
            ok = false;
        if (!ok) {
            ereport(LOG, (errcode_for_file_access(), errmsg("could not write file \"%s\": %m", kTempFile)));
            unlink(kTempFile);
            return;
        }
        (void) durable_rename(kTempFile, kFile, LOG);
    });
}

// At server start (in the postmaster): reads kFile back, then removes it,
// so that a crash, which skips SaveCounters, starts from zero rather than
// from the counts of an older clean shutdown.
void LoadCounters()
{
    FILE *file = AllocateFile(kFile, PG_BINARY_R);
    if (!file) {
        if (errno != ENOENT)
            ereport(LOG, (errcode_for_file_access(), errmsg("could not read file \"%s\": %m", kFile)));
        return;
    }
    FileHeader header;
    if (fread(&header, sizeof header, 1, file) != 1 || header.magic != kFileMagic ||
        header.version != kFileVersion || header.entry_size != sizeof(CounterEntry)) {
        ereport(LOG, (errmsg("pgque_worker: ignoring file \"%s\": not written by this version", kFile)));
    } else {
        CounterEntry stored;
        for (uint32 i = 0; i < header.count; i++) {
            if (fread(&stored, sizeof stored, 1, file) != 1) {
                ereport(LOG, (errmsg("pgque_worker: file \"%s\" is truncated; kept %u entries", kFile, i)));
                break;
            }
            if (hash_get_num_entries(hash) >= config::MaxTrackedConsumers())
                break;  // pgque_worker.max_tracked_consumers was lowered
            bool found = false;
            auto *e = static_cast<CounterEntry *>(hash_search(hash, &stored.key, HASH_ENTER_NULL, &found));
            if (!e)
                break;
            std::memcpy(e, &stored, sizeof stored);
            SpinLockInit(&e->mutex);
            e->last_error[kLastErrorSize - 1] = '\0';
        }
    }
    FreeFile(file);
    unlink(kFile);
}

void AttachSharedMemory()
{
    if (prev_shmem_startup_hook)
        prev_shmem_startup_hook();
    pg::Entry([] {
        LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
        bool found = false;
        shared = static_cast<CounterShared *>(ShmemInitStruct("pgque_worker counters", sizeof(CounterShared), &found));
        if (!found) {
            shared->lock = &(GetNamedLWLockTranche("pgque_worker counters"))->lock;
            SpinLockInit(&shared->mutex);
            shared->evictions = 0;
        }
        HASHCTL info;
        std::memset(&info, 0, sizeof info);
        info.keysize = sizeof(CounterKey);
        info.entrysize = sizeof(CounterEntry);
        hash = ShmemInitHash("pgque_worker counters hash", config::MaxTrackedConsumers(),
                             config::MaxTrackedConsumers(), &info, HASH_ELEM | HASH_BLOBS);
        LWLockRelease(AddinShmemInitLock);
        // Only the postmaster saves (at its exit) and loads (at start, and
        // after a crash, when the file is gone).
        if (!IsUnderPostmaster) {
            on_shmem_exit(SaveCounters, 0);
            if (!found)
                LoadCounters();
        }
    });
}

}  // namespace

HttpClass HttpClassOf(long status)
{
    if (status >= 200 && status < 300)
        return kHttp2xx;
    if (status >= 300 && status < 400)
        return kHttp3xx;
    if (status >= 400 && status < 500)
        return kHttp4xx;
    if (status >= 500 && status < 600)
        return kHttp5xx;
    return kHttpTransportError;  // no response, or no valid status
}

void InstallConsumerCounters()
{
    prev_shmem_request_hook = shmem_request_hook;
    shmem_request_hook = RequestSharedMemory;
    prev_shmem_startup_hook = shmem_startup_hook;
    shmem_startup_hook = AttachSharedMemory;
}

void AddBatch(int consumer_id, std::uint64_t identity, Oid owner, const ConsumerCounts &counts,
              const char *last_error)
{
    if (!shared)
        return;
    pg::Call([&] {
        const TimestampTz now = GetCurrentTimestamp();
        CounterKey key;
        std::memset(&key, 0, sizeof key);
        key.database = MyDatabaseId;
        key.consumer_id = consumer_id;
        LWLockAcquire(shared->lock, LW_SHARED);
        auto *e = static_cast<CounterEntry *>(hash_search(hash, &key, HASH_FIND, nullptr));
        if (!e) {
            LWLockRelease(shared->lock);
            LWLockAcquire(shared->lock, LW_EXCLUSIVE);
            e = FindOrCreate(key, now);
        }
        if (e) {
            SpinLockAcquire(&e->mutex);
            if (e->identity != identity) {  // new, or another consumer that had this id
                e->identity = identity;
                e->counts = ConsumerCounts{};
                e->since = now;
                e->last_error[0] = '\0';
                e->last_error_at = 0;
            }
            ConsumerCounts &c = e->counts;
            c.batches += counts.batches;
            c.messages += counts.messages;
            c.processed += counts.processed;
            c.failed += counts.failed;
            c.retried += counts.retried;
            c.dead_lettered += counts.dead_lettered;
            c.unhandled += counts.unhandled;
            c.batch_us += counts.batch_us;
            c.handler_us += counts.handler_us;
            for (int i = 0; i < kHttpClasses; i++)
                c.http[i] += counts.http[i];
            e->owner = owner;
            e->last_batch_at = now;
            if (last_error && last_error[0] != '\0') {
                strlcpy(e->last_error, last_error, sizeof e->last_error);
                e->last_error_at = now;
            }
            SpinLockRelease(&e->mutex);
        }
        LWLockRelease(shared->lock);
    });
}

std::int64_t Evictions()
{
    if (!shared)
        return 0;
    SpinLockAcquire(&shared->mutex);
    std::int64_t n = shared->evictions;
    SpinLockRelease(&shared->mutex);
    return n;
}

std::vector<ConsumerCounterRow> Snapshot()
{
    std::vector<ConsumerCounterRow> rows;
    if (!shared)
        return rows;
    rows.reserve(static_cast<std::size_t>(config::MaxTrackedConsumers()));
    pg::Call([&] {
        LWLockAcquire(shared->lock, LW_SHARED);
        HASH_SEQ_STATUS seq;
        hash_seq_init(&seq, hash);
        for (auto *e = static_cast<CounterEntry *>(hash_seq_search(&seq)); e;
             e = static_cast<CounterEntry *>(hash_seq_search(&seq))) {
            if (e->key.database != MyDatabaseId || rows.size() == rows.capacity())
                continue;
            ConsumerCounterRow row;
            SpinLockAcquire(&e->mutex);
            row.consumer_id = e->key.consumer_id;
            row.owner = e->owner;
            row.counts = e->counts;
            row.since = e->since;
            row.last_batch_at = e->last_batch_at;
            row.last_error_at = e->last_error_at;
            std::memcpy(row.last_error, e->last_error, sizeof row.last_error);
            SpinLockRelease(&e->mutex);
            rows.push_back(row);  // within the reserved capacity: no allocation, no throw
        }
        LWLockRelease(shared->lock);
    });
    return rows;
}

}  // namespace pgque::stats
