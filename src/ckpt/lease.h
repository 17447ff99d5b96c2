// The run lease: fencing so that a zombie attempt (an instance that was reclaimed, or cut off
// from the network, and then came back) can never overwrite the progress of the attempt that
// replaced it.
//
// `lease.json` in the run's folder holds an epoch that only grows. Every attempt takes the lease
// when it starts by writing epoch = previous + 1 with its holder id (conditionally where the
// store can: If-Match on the version it read, or create-if-absent), so the newest attempt always
// wins, and it checks before every commit that the lease still holds its epoch and id. An
// attempt that finds a newer epoch stops without writing anything.
//
// Where the store cannot write conditionally (s3rver, most S3-compatible servers today) the
// attempt reads the lease back after writing it: of two attempts that start at the same moment,
// the one whose write landed last wins and the other sees that it lost. Without an atomic
// compare-and-write on the checkpoint itself, a zombie that checks the lease and is then
// paused for longer than it takes another attempt to start and commit could still land one
// checkpoint; training is deterministic, so that checkpoint holds the same state the new
// attempt computes for that step, and the new attempt replaces it when it saves that step.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "base/env.h"
#include "base/status.h"
#include "run/layout.h"
#include "store/store.h"

namespace baton {

struct LeaseRecord {
  int64_t epoch = 0;
  std::string holder;  // "host:pid:nonce", or EnvVar::kInstanceId's value plus pid and nonce
  int64_t acquired_unix_ms = 0;
  int64_t renewed_unix_ms = 0;  // the holder's last commit
  bool released = false;        // the holder stopped cleanly and let go

  std::string ToJson() const;
  static Result<LeaseRecord> Parse(std::string_view text, const std::string& source);
};

// The lease of the run under `run_prefix` in `store`, or nullopt if none was ever taken.
Result<std::optional<LeaseRecord>> ReadLease(Store* store, const std::string& run_prefix);

// A holder id for this process: "<EnvVar::kInstanceId or hostname>:<pid>:<random>".
std::string NewLeaseHolderId();

class RunLease {
 public:
  // Takes the lease for a new attempt: epoch = previous + 1. Fails with FailedPrecondition only
  // if other attempts keep winning the race (after a few tries).
  static Result<std::unique_ptr<RunLease>> Acquire(Store* store, const std::string& run_prefix,
                                                   const std::string& holder,
                                                   Env* env = Env::Default());

  // Ok while the lease still holds this attempt's epoch and holder; FailedPrecondition naming
  // the newer holder otherwise ("fenced: ..."), after which fenced() is true. A read error of
  // the store is returned as it is (the caller must not write then either).
  Status Check();
  // Marks the lease released (a clean stop), if this attempt still holds it. Best effort.
  // Renew records a commit in renewed_unix_ms. Both write only where the store can write
  // conditionally; elsewhere a write could overwrite a newer attempt's epoch, so they only
  // Check. A lost race is reported like Check's fencing.
  //
  // `run_complete` (the COMPLETE marker is written) lifts that limit for the release: a newer
  // attempt that the write could overwrite finds the run complete and has nothing to do, so the
  // lease says released on every store, as a reader of a finished run expects.
  Status Release(bool run_complete = false);
  Status Renew();

  // Check, Renew and Release may run on different threads (the trainer checks the lease before
  // a log line while its commit thread renews it); the lease serialises them.
  int64_t epoch() const { return mine_.epoch; }  // fixed at Acquire
  std::string holder() const;
  bool fenced() const { return fenced_.load(); }
  std::string Url() const;

 private:
  RunLease(Store* store, std::string key, LeaseRecord mine, std::string etag, Env* env)
      : store_(store),
        key_(std::move(key)),
        mine_(std::move(mine)),
        etag_(std::move(etag)),
        env_(env) {}
  Status Fenced(const LeaseRecord& now);
  Status Write(const LeaseRecord& record);

  Store* store_;
  std::string key_;
  LeaseRecord mine_;
  std::string etag_;  // of our last write, where the store gives one
  Env* env_;
  mutable std::recursive_mutex mu_;  // mine_, etag_; Write calls Check
  std::atomic<bool> fenced_{false};
};

}  // namespace baton
