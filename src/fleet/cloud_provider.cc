#include "fleet/cloud_provider.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "cloud/agent_service.h"
#include "fleet/report.h"

namespace baton::fleet {
namespace {

// The cloud may not list an instance for a moment after its launch call answered.
constexpr double kListingLagSeconds = 120;
// An instance whose agent never heartbeats, or falls silent, is broken: delete and relaunch.
constexpr double kNoHeartbeatSeconds = 30 * 60;
constexpr double kSilentSeconds = 10 * 60;

Result<EndReason> ParseEndReason(const std::string& name) {
  for (EndReason r : {EndReason::kNone, EndReason::kCompleted, EndReason::kStopped,
                      EndReason::kPreempted, EndReason::kKilled, EndReason::kFailed}) {
    if (name == EndReasonName(r)) return r;
  }
  return Corruption("unknown end reason '{}'", name);
}

}  // namespace

CloudTimings CloudTimingsOf(const FleetSpec& spec, double reclaim_notice_seconds) {
  if (spec.provider == "aws") {
    const AwsFleetSpec& a = spec.aws;
    return {a.region, a.poll_seconds, a.stop_grace_seconds, a.no_capacity_backoff_seconds,
            reclaim_notice_seconds};
  }
  const AliyunFleetSpec& a = spec.aliyun;
  return {a.region, a.poll_seconds, a.stop_grace_seconds, a.no_stock_backoff_seconds,
          reclaim_notice_seconds};
}

Result<std::string> AgentUserData(const CloudProviderOptions& options,
                                  const std::string& binary_url, bool handoff) {
  ServiceOptions service;
  service.baton_path = options.baton_path;
  service.job = options.job_url;
  service.handoff = handoff;
  return CloudInitUserData(service, binary_url);
}

std::string NewClientToken() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("baton-{:016x}{:016x}", rng(), rng());
}

CloudProvider::CloudProvider(FleetSpec spec, Store* store, CloudProviderOptions options,
                             CloudTimings timings)
    : spec_(std::move(spec)),
      store_(store),
      options_(std::move(options)),
      timings_(std::move(timings)),
      env_(options_.env ? options_.env : Env::Default()) {}

Status CloudProvider::Open() {
  BATON_RETURN_IF_ERROR(Load());
  return Refresh();
}

int64_t CloudProvider::UnixMs(double t) const {
  return ledger_.started_unix_ms + static_cast<int64_t>(std::llround(t * 1000));
}

double CloudProvider::Now() {
  return static_cast<double>(static_cast<int64_t>(env_->NowMicros() / 1000) -
                             ledger_.started_unix_ms) /
         1000.0;
}

void CloudProvider::Print(const std::string& line) const {
  if (options_.print) options_.print(name() + " fleet: " + line);
}

int CloudProvider::OfferIndex(const std::string& name) const {
  for (size_t i = 0; i < spec_.offers.size(); ++i) {
    if (spec_.offers[i].Name() == name) return static_cast<int>(i);
  }
  return -1;
}

CloudProvider::Tracked* CloudProvider::Find(const std::string& id) {
  for (Tracked& t : instances_) {
    if (t.info.id == id) return &t;
  }
  return nullptr;
}

Status CloudProvider::Load() {
  BATON_ASSIGN_OR_RETURN(std::optional<FleetLedger> ledger, ReadFleetLedger(store_));
  if (!ledger) {
    ledger_.run = options_.run;
    ledger_.provider = spec_.provider;
    ledger_.region = timings_.region;
    ledger_.started_unix_ms = static_cast<int64_t>(env_->NowMicros() / 1000);
    return Status::Ok();
  }
  const std::string where = JoinKey(store_->Url(), kFleetLedgerKey);
  if (ledger->run != options_.run) {
    return FailedPrecondition("{}: the fleet of run '{}' is kept here, not of '{}'", where,
                              ledger->run, options_.run);
  }
  if (ledger->region != timings_.region || ledger->provider != spec_.provider) {
    return FailedPrecondition(
        "{}: this run's fleet is on {} in {}; the job says {} in {}. Run `baton fleet down` with "
        "the old job first",
        where, ledger->provider, ledger->region, spec_.provider, timings_.region);
  }
  ledger_ = std::move(*ledger);
  for (const LedgerInstance& l : ledger_.instances) {
    Tracked t;
    t.info.id = l.id;
    t.info.offer = OfferIndex(l.offer);
    if (t.info.offer < 0) {
      return FailedPrecondition(
          "{}: instance {} ran on {}, which the job does not offer any more; put the offer back "
          "(its price bills the run)",
          where, l.id, l.offer);
    }
    auto at = [&](int64_t ms) {
      return ms > 0 ? static_cast<double>(ms - ledger_.started_unix_ms) / 1000.0 : -1.0;
    };
    t.info.handoff = l.handoff;
    t.info.launched_at = at(l.launched_unix_ms);
    t.info.running_at = at(l.running_unix_ms);
    t.info.ended_at = at(l.ended_unix_ms);
    t.info.detail = l.detail;
    t.info.billed_cost = l.billed_cost;
    if (l.billed_cost >= 0) t.billed_at = at(l.ended_unix_ms);  // final: not asked again
    t.stop_at = at(l.stop_unix_ms);
    t.noticed = l.notice_unix_ms > 0;
    t.notice_at = at(l.notice_unix_ms);
    t.delete_at = at(l.delete_unix_ms);
    if (l.ended_unix_ms > 0) {
      t.info.state = InstanceState::kEnded;
      Result<EndReason> reason = ParseEndReason(l.end_reason);
      if (!reason.ok()) return reason.status().WithContext(where);
      t.info.end_reason = *reason;
    } else if (t.stop_at >= 0 || t.noticed || t.delete_at >= 0) {
      t.info.state = InstanceState::kStopping;
    }
    instances_.push_back(std::move(t));
  }
  if (options_.read_only) return Status::Ok();
  // A stop the last controller saved may not have reached the bucket: ask again (the request is
  // the same document; an agent that already obeyed it has exited). Deletions are asked again by
  // the first Refresh, for the instances the cloud still lists.
  for (Tracked& t : instances_) {
    if (t.info.state == InstanceState::kEnded || t.stop_at < 0 || t.delete_at >= 0) continue;
    BATON_RETURN_IF_ERROR(WriteStop(t, "the fleet asked it to stop (again, after a restart)"));
  }
  return Status::Ok();
}

Status CloudProvider::WriteStop(const Tracked& t, const std::string& reason) {
  StopRequest request;
  request.instance = t.info.id;
  request.reason = reason;
  request.unix_ms = UnixMs(t.stop_at);
  return WriteStopRequest(store_, request);
}

double CloudProvider::EndTime(const Tracked& t, double now) const {
  double end = now;
  // Deleted by a controller: released then, also when it is only seen gone after a restart.
  if (t.delete_at >= 0) end = std::min(end, t.delete_at);
  // Gone while no controller watched (this one never saw it listed): a reclaim releases it at
  // the end of its notice.
  if (!t.seen && t.noticed && t.notice_at >= 0) {
    end = std::min(end, t.notice_at + timings_.reclaim_notice_seconds);
  }
  return std::max(end, t.info.launched_at);
}

Status CloudProvider::SaveLedger() {
  if (options_.read_only) return Status::Ok();
  ledger_.instances.clear();
  for (const Tracked& t : instances_) {
    auto ms = [&](double at) { return at >= 0 ? UnixMs(at) : 0; };
    LedgerInstance l;
    l.id = t.info.id;
    l.offer = spec_.offers[t.info.offer].Name();
    l.handoff = t.info.handoff;
    l.launched_unix_ms = ms(t.info.launched_at);
    l.running_unix_ms = ms(t.info.running_at);
    l.stop_unix_ms = ms(t.stop_at);
    l.notice_unix_ms = !t.noticed         ? 0
                       : t.notice_at >= 0 ? ms(t.notice_at)
                                          : std::max<int64_t>(1, l.launched_unix_ms);
    l.delete_unix_ms = ms(t.delete_at);
    l.ended_unix_ms = t.info.state == InstanceState::kEnded ? ms(t.info.ended_at) : 0;
    l.end_reason = t.info.state == InstanceState::kEnded ? EndReasonName(t.info.end_reason) : "";
    l.detail = t.info.detail;
    l.billed_cost = t.info.state == InstanceState::kEnded ? t.info.billed_cost : -1;
    ledger_.instances.push_back(std::move(l));
  }
  Status s = WriteFleetLedger(store_, ledger_);
  if (!s.ok()) return s.WithContext("writing the fleet ledger");
  return s;
}

Status CloudProvider::SetStoppedReason(const std::string& reason) {
  ledger_.stopped_reason = reason;
  return SaveLedger();
}

void CloudProvider::MarkNoCapacity(int offer) {
  no_capacity_until_[offer] = Now() + timings_.no_capacity_backoff_seconds;
}

bool CloudProvider::HasCapacity(int offer) {
  if (!InStock(offer)) return false;
  auto it = no_capacity_until_.find(offer);
  return it == no_capacity_until_.end() || Now() >= it->second;
}

Result<std::string> CloudProvider::Launch(int offer, bool handoff) {
  if (options_.read_only) return FailedPrecondition("the fleet is open read-only");
  if (scale_to_zero_) return FailedPrecondition("the fleet is scaling to zero");
  if (!HasCapacity(offer)) return Unavailable("no capacity (backing off)");
  BATON_ASSIGN_OR_RETURN(std::string id, LaunchOne(offer, handoff));
  Tracked t;
  t.info.id = id;
  t.info.offer = offer;
  t.info.handoff = handoff;
  t.info.launched_at = Now();
  instances_.push_back(std::move(t));
  if (Status s = SaveLedger(); !s.ok()) {
    // The instance is tagged with the run: a later look adopts it even without the ledger.
    Print(fmt::format("warning: launched {} but {}", id, s.ToString()));
  }
  return id;
}

Status CloudProvider::DeleteInstance(Tracked& t, const std::string& why) {
  if (options_.read_only) return Status::Ok();
  if (t.delete_at < 0) {
    // Saved before it is asked: a controller that dies in between asks again after a restart,
    // and bills the instance to here, never counts it as gone without notice.
    t.delete_at = Now();
    BATON_RETURN_IF_ERROR(SaveLedger());
  }
  BATON_RETURN_IF_ERROR(DeleteOne(t.info.id));
  t.deleted = true;
  Print(fmt::format("deleted {} ({})", t.info.id, why));
  return Status::Ok();
}

void CloudProvider::End(Tracked& t, EndReason reason, const std::string& detail) {
  t.info.state = InstanceState::kEnded;
  t.info.end_reason = reason;
  t.info.ended_at = EndTime(t, Now());
  if (!detail.empty()) t.info.detail = detail;
  changed_ = true;
  if (!options_.read_only) {
    if (Status s = DeleteStopRequest(store_, t.info.id); !s.ok()) {
      Print("warning: " + s.ToString());
    }
  }
}

Status CloudProvider::Stop(const std::string& id) {
  Tracked* t = Find(id);
  if (!t || t->info.state == InstanceState::kEnded || t->stop_at >= 0) return Status::Ok();
  if (options_.read_only) return FailedPrecondition("the fleet is open read-only");
  const double now = Now();
  if (!t->track.state) {
    // No agent runs yet, and one that starts later ignores an older request: delete it.
    BATON_RETURN_IF_ERROR(DeleteInstance(*t, "stopped before its agent started"));
    End(*t, EndReason::kStopped, "stopped while booting");
    return SaveLedger();
  }
  // Saved before the request is written: a restarted controller writes it again (Load).
  t->stop_at = now;
  t->info.state = InstanceState::kStopping;
  changed_ = true;
  BATON_RETURN_IF_ERROR(SaveLedger());
  return WriteStop(*t, scale_to_zero_ ? "the fleet scales to zero" : "the fleet moves the run");
}

Status CloudProvider::SetDesiredCapacity(int n) {
  if (n > 0) {
    scale_to_zero_ = false;
    return Status::Ok();
  }
  scale_to_zero_ = true;
  for (Tracked& t : instances_) {
    if (t.info.state != InstanceState::kEnded) BATON_RETURN_IF_ERROR(Stop(t.info.id));
  }
  return Status::Ok();
}

Status CloudProvider::DeleteAll(const std::string& why) {
  for (Tracked& t : instances_) {
    if (t.info.state == InstanceState::kEnded) continue;
    BATON_RETURN_IF_ERROR(DeleteInstance(t, why));
    End(t, EndReason::kStopped, why);
  }
  return SaveLedger();
}

Status CloudProvider::Refresh() {
  const double now = Now();
  changed_ = false;
  RefreshStock();
  std::map<std::string, CloudListing> listed;
  BATON_RETURN_IF_ERROR(ListRun(&listed));

  // Instances of this run that the ledger does not know: launched just before a crash.
  for (const auto& [id, inst] : listed) {
    if (id.empty() || Find(id)) continue;
    BATON_RETURN_IF_ERROR(ValidateInstanceId(id));
    int offer = OfferIndex(inst.offer);
    if (offer < 0) {
      return FailedPrecondition(
          "{} instance {} is tagged {}={} but not with an offer of this job ({}={}); delete it "
          "or put its offer back into the job",
          name(), id, kCloudRunTag, options_.run, kCloudOfferTag, inst.offer);
    }
    Tracked t;
    t.info.id = id;
    t.info.offer = offer;
    t.info.launched_at =
        inst.created_unix_ms > 0
            ? static_cast<double>(inst.created_unix_ms - ledger_.started_unix_ms) / 1000.0
            : now;
    t.info.launched_at = std::min(t.info.launched_at, now);
    Print(fmt::format("found {} on {} (not in the ledger): adopting it", id,
                      spec_.offers[offer].Name()));
    instances_.push_back(std::move(t));
    changed_ = true;
  }

  for (Tracked& t : instances_) {
    if (t.info.state == InstanceState::kEnded) continue;
    auto it = listed.find(t.info.id);
    const bool found = it != listed.end();
    if (found && t.delete_at >= 0 && !t.deleted && !options_.read_only) {
      // The last controller asked for the deletion and may have died before the cloud heard.
      BATON_RETURN_IF_ERROR(DeleteInstance(t, "asked again after a controller restart"));
    }
    if (found) {
      t.seen = true;
      if (it->second.notice && !t.noticed) {
        t.noticed = true;
        t.notice_at = now;
        t.info.state = InstanceState::kStopping;
        t.info.detail = it->second.notice_detail;
        changed_ = true;
      }
    }
    if (found && !t.rebalanced && !t.noticed && t.stop_at < 0 && t.track.state &&
        spec_.offers[t.info.offer].billing == Billing::kSpot) {
      Result<std::optional<RebalanceReport>> r = ReadRebalanceReport(store_, t.info.id);
      if (r.ok() && *r) {
        t.rebalanced = true;
        MarkNoCapacity(t.info.offer);
        Print(fmt::format(
            "{} has a rebalance recommendation ({}): {} counts as without capacity for {}, so the "
            "run moves make-before-break",
            t.info.id, (*r)->reason, spec_.offers[t.info.offer].Name(),
            FormatHours(timings_.no_capacity_backoff_seconds)));
        changed_ = true;
      }
    }
    if (t.track.Poll(store_, now, &t.info, &changed_)) {
      Print(fmt::format("{} training from step {}", t.info.id,
                        static_cast<int64_t>(std::max(0.0, t.info.start_work))));
    }
    if (t.track.Final()) {
      AgentState s = *t.track.state;
      // An agent that stopped while the fleet never asked it to saw a notice of its own (the
      // metadata service's, which only the instance can read): a preemption.
      if (s == AgentState::kStopped && !t.noticed && t.stop_at < 0 && t.delete_at < 0) {
        t.noticed = true;
        t.notice_at = now;
        t.info.detail = "a notice its agent saw";
      }
      const std::string notice = t.info.detail.empty() ? "reclaim notice" : t.info.detail;
      EndReason reason = s == AgentState::kComplete ? EndReason::kCompleted
                         : s == AgentState::kFailed ? EndReason::kFailed
                         : t.noticed                ? EndReason::kPreempted
                                                    : EndReason::kStopped;
      std::string detail = fmt::format("agent {}", AgentStateName(s));
      if (t.track.last && t.track.last->stop_to_checkpoint_seconds) {
        detail +=
            fmt::format(", checkpoint in {:.1f} s", *t.track.last->stop_to_checkpoint_seconds);
      }
      if (t.noticed) detail = notice + ", " + detail;
      if (found && !t.deleted) {
        if (options_.read_only) continue;
        BATON_RETURN_IF_ERROR(DeleteInstance(t, detail));
      }
      End(t, reason, detail);
      continue;
    }
    if (!found) {
      if (!t.seen && now - t.info.launched_at < kListingLagSeconds) continue;
      if (t.deleted || t.delete_at >= 0) {
        End(t, EndReason::kStopped, "");
      } else if (t.noticed) {
        End(t, EndReason::kKilled, "released after the reclaim notice, before it checkpointed");
      } else {
        End(t, EndReason::kKilled, "gone without notice");
      }
      continue;
    }
    if (options_.read_only) continue;
    const int64_t now_ms = UnixMs(now);
    std::string broken;
    if (t.stop_at >= 0 && now - t.stop_at > timings_.stop_grace_seconds) {
      broken = fmt::format("no checkpoint within the stop grace ({})",
                           FormatHours(timings_.stop_grace_seconds));
    } else if (!t.track.last && now - t.info.launched_at > kNoHeartbeatSeconds) {
      broken = fmt::format("no heartbeat {} after launch", FormatHours(kNoHeartbeatSeconds));
    } else if (t.track.last && static_cast<double>(now_ms - t.track.last->updated_unix_ms) / 1000 >
                                   kSilentSeconds) {
      broken = fmt::format("its agent has been silent for {}", FormatHours(kSilentSeconds));
    }
    if (!broken.empty()) {
      BATON_RETURN_IF_ERROR(DeleteInstance(t, broken));
      End(t, t.stop_at >= 0 ? EndReason::kStopped : EndReason::kFailed, broken);
    }
  }
  RefreshBills();
  if (changed_) BATON_RETURN_IF_ERROR(SaveLedger());
  return Status::Ok();
}

std::optional<Heartbeat> CloudProvider::HeartbeatOf(const std::string& id) const {
  for (const Tracked& t : instances_) {
    if (t.info.id == id) return t.track.last;
  }
  return std::nullopt;
}

std::vector<Instance> CloudProvider::Instances() {
  std::vector<Instance> out;
  for (const Tracked& t : instances_) out.push_back(t.info);
  return out;
}

RunProgress CloudProvider::Progress() {
  std::vector<const AgentTrack*> tracks;
  std::vector<const Instance*> infos;
  for (const Tracked& t : instances_) {
    tracks.push_back(&t.track);
    infos.push_back(&t.info);
  }
  RunProgress r = ProgressOf(tracks, infos);
  end_watch_.Read(
      store_, [this](const std::string& s) { Print(s); }, &r);
  return r;
}

double CloudProvider::Advance(double until) {
  double now = Now();
  double wait = std::min(until - now, timings_.poll_seconds);
  if (wait > 0) env_->SleepMicros(static_cast<uint64_t>(wait * 1e6));
  if (Status s = Refresh(); !s.ok()) {
    Print("warning: " + s.ToString() + " (tried again next poll)");
  }
  return Now();
}

}  // namespace baton::fleet
