#include "ckpt/lease.h"

#include <unistd.h>

#include <ctime>
#include <limits>
#include <random>

#include "base/json.h"
#include "base/process_contract.h"
#include "store/store.h"

namespace baton {
namespace {

std::string UtcTime(int64_t unix_ms) {
  std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

int64_t NowMs(Env* env) { return static_cast<int64_t>(env->NowMicros() / 1000); }

}  // namespace

std::string LeaseRecord::ToJson() const {
  Json j = {{"format", "baton-lease"},
            {"version", 1},
            {"epoch", epoch},
            {"holder", holder},
            {"acquired_unix_ms", acquired_unix_ms},
            {"acquired_at", UtcTime(acquired_unix_ms)},
            {"renewed_unix_ms", renewed_unix_ms},
            {"released", released}};
  return DumpJson(j, 2) + "\n";
}

Result<LeaseRecord> LeaseRecord::Parse(std::string_view text, const std::string& source) {
  BATON_ASSIGN_OR_RETURN(Json j, ParseJson(text, source));
  if (!j.is_object()) return Corruption("{}: not a JSON object", source);
  BATON_ASSIGN_OR_RETURN(std::string format, JsonString(j, "format", source));
  if (format != "baton-lease") {
    return Corruption("{}: format is '{}', want 'baton-lease'", source, format);
  }
  BATON_ASSIGN_OR_RETURN(int64_t version, JsonInt(j, "version", source));
  if (version != 1) {
    return Corruption("{}: lease version {} is not supported (this build reads 1)", source,
                      version);
  }
  LeaseRecord r;
  BATON_ASSIGN_OR_RETURN(r.epoch, JsonInt(j, "epoch", source));
  BATON_ASSIGN_OR_RETURN(r.holder, JsonString(j, "holder", source));
  BATON_ASSIGN_OR_RETURN(r.acquired_unix_ms, JsonInt(j, "acquired_unix_ms", source));
  BATON_ASSIGN_OR_RETURN(r.renewed_unix_ms, JsonInt(j, "renewed_unix_ms", source));
  BATON_ASSIGN_OR_RETURN(r.released, JsonBool(j, "released", source));
  if (r.epoch < 1) {
    return Corruption("{}: epoch {} is not positive (a lease's epoch starts at 1 and only grows)",
                      source, r.epoch);
  }
  return r;
}

Result<std::optional<LeaseRecord>> ReadLease(Store* store, const std::string& run_prefix) {
  std::string key = JoinKey(run_prefix, kLeaseName);
  Result<std::string> text = store->Get(key);
  if (text.status().code() == StatusCode::kNotFound) return std::optional<LeaseRecord>();
  if (!text.ok()) return text.status();
  BATON_ASSIGN_OR_RETURN(LeaseRecord r, LeaseRecord::Parse(*text, JoinKey(store->Url(), key)));
  return std::optional<LeaseRecord>(std::move(r));
}

std::string NewLeaseHolderId() {
  std::string who;
  if (std::optional<std::string> id = GetEnvVar(EnvVar::kInstanceId)) {
    who = *id;
  } else {
    char host[256] = {};
    if (gethostname(host, sizeof(host) - 1) != 0) std::snprintf(host, sizeof(host), "unknown");
    who = host;
  }
  std::random_device random;
  return fmt::format("{}:{}:{:08x}", who, getpid(), random());
}

std::string RunLease::Url() const { return JoinKey(store_->Url(), key_); }

Result<std::unique_ptr<RunLease>> RunLease::Acquire(Store* store, const std::string& run_prefix,
                                                    const std::string& holder, Env* env) {
  const std::string key = JoinKey(run_prefix, kLeaseName);
  const std::string where = JoinKey(store->Url(), key);
  const bool conditional = store->SupportsConditionalPut();
  std::mt19937_64 jitter(std::random_device{}());
  constexpr int kTries = 5;
  for (int attempt = 0; attempt < kTries; ++attempt) {
    if (attempt > 0) env->SleepMicros(20000 + jitter() % 80000);
    Result<Store::Versioned> cur = store->GetVersioned(key);
    int64_t previous = 0;
    std::string etag;
    if (cur.ok()) {
      // A lease that cannot be read is not an obstacle: the new attempt overwrites it with a
      // newer epoch than anything a reader could have taken from it... but only if we can tell
      // which epoch that is. A corrupt lease is an error the user must look at.
      BATON_ASSIGN_OR_RETURN(LeaseRecord old, LeaseRecord::Parse(cur->data, where));
      previous = old.epoch;
      etag = cur->etag;
      // epoch + 1 would overflow to a negative epoch, which every reader (this one too) refuses.
      if (previous == std::numeric_limits<int64_t>::max()) {
        return FailedPrecondition(
            "{}: epoch {} is the largest a lease can hold; no newer attempt can take it (delete "
            "{} only when no attempt is running)",
            where, previous, where);
      }
    } else if (cur.status().code() != StatusCode::kNotFound) {
      return cur.status().WithContext("taking the run lease");
    }
    LeaseRecord mine;
    mine.epoch = previous + 1;
    mine.holder = holder;
    mine.acquired_unix_ms = mine.renewed_unix_ms = NowMs(env);
    if (conditional) {
      Status s = store->PutIf(key, mine.ToJson(), etag);
      if (s.code() == StatusCode::kFailedPrecondition) continue;  // another attempt wrote first
      BATON_RETURN_IF_ERROR(s.WithContext("taking the run lease"));
    } else {
      BATON_RETURN_IF_ERROR(store->Put(key, mine.ToJson()).WithContext("taking the run lease"));
    }
    // Read back: without conditional writes this is what tells a lost race apart.
    Result<Store::Versioned> back = store->GetVersioned(key);
    if (!back.ok()) return back.status().WithContext("reading back the run lease");
    BATON_ASSIGN_OR_RETURN(LeaseRecord now, LeaseRecord::Parse(back->data, where));
    if (now.epoch == mine.epoch && now.holder == mine.holder) {
      return std::unique_ptr<RunLease>(new RunLease(store, key, mine, back->etag, env));
    }
    if (!conditional) {
      return FailedPrecondition(
          "fenced: {} was taken by {} (epoch {}) at the same moment as this attempt; it stops "
          "here without writing",
          where, now.holder, now.epoch);
    }
  }
  return FailedPrecondition("{}: other attempts kept taking the run lease ({} tries)", where,
                            kTries);
}

Status RunLease::Fenced(const LeaseRecord& now) {
  fenced_ = true;
  return FailedPrecondition(
      "fenced: {} now has epoch {} held by {} (taken {}); this attempt (epoch {}, {}) stops "
      "without writing",
      Url(), now.epoch, now.holder, UtcTime(now.acquired_unix_ms), mine_.epoch, mine_.holder);
}

std::string RunLease::holder() const {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  return mine_.holder;
}

Status RunLease::Check() {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  if (fenced_) return FailedPrecondition("fenced: {} was taken by a newer attempt", Url());
  Result<std::string> text = store_->Get(key_);
  if (text.status().code() == StatusCode::kNotFound) {
    fenced_ = true;
    return FailedPrecondition(
        "fenced: {} was deleted; this attempt (epoch {}) stops without "
        "writing",
        Url(), mine_.epoch);
  }
  if (!text.ok()) return text.status().WithContext("checking the run lease");
  BATON_ASSIGN_OR_RETURN(LeaseRecord now, LeaseRecord::Parse(*text, Url()));
  if (now.epoch != mine_.epoch || now.holder != mine_.holder) return Fenced(now);
  return Status::Ok();
}

Status RunLease::Write(const LeaseRecord& record) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  if (!store_->SupportsConditionalPut()) {
    // Without a conditional write, writing the lease back could overwrite a newer attempt's
    // epoch that landed after our read: only the check is done, nothing is written.
    return Check();
  }
  for (int attempt = 0;; ++attempt) {
    Status s = store_->PutIf(key_, record.ToJson(), etag_);
    if (s.ok()) break;
    if (s.code() != StatusCode::kFailedPrecondition) return s;
    // Someone wrote the lease: a newer attempt (Check names it), or our own tag went stale.
    BATON_RETURN_IF_ERROR(Check());
    if (attempt > 0) {
      fenced_ = true;
      return FailedPrecondition("fenced: {} keeps changing under this attempt (epoch {})", Url(),
                                mine_.epoch);
    }
    Result<Store::Versioned> cur = store_->GetVersioned(key_);
    if (!cur.ok()) return cur.status().WithContext("reading the run lease");
    etag_ = cur->etag;
  }
  Result<Store::Versioned> back = store_->GetVersioned(key_);
  if (!back.ok()) return back.status().WithContext("reading back the run lease");
  etag_ = back->etag;
  return Status::Ok();
}

Status RunLease::Renew() {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  LeaseRecord next = mine_;
  next.renewed_unix_ms = NowMs(env_);
  BATON_RETURN_IF_ERROR(Write(next));
  mine_ = next;
  return Status::Ok();
}

Status RunLease::Release(bool run_complete) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  LeaseRecord next = mine_;
  next.released = true;
  next.renewed_unix_ms = NowMs(env_);
  if (run_complete && !store_->SupportsConditionalPut()) {
    BATON_RETURN_IF_ERROR(Check());
    BATON_RETURN_IF_ERROR(store_->Put(key_, next.ToJson()));
    mine_ = next;
    return Status::Ok();
  }
  BATON_RETURN_IF_ERROR(Write(next));
  mine_ = next;
  return Status::Ok();
}

}  // namespace baton
