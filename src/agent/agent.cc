#include "agent/agent.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>

#include "agent/handoff.h"
#include "agent/heartbeat_writer.h"
#include "agent/supervise.h"
#include "agent/webhooks.h"
#include "base/periodic_thread.h"
#include "base/process_contract.h"
#include "cloud/aliyun_api.h"
#include "cloud/notice_monitor.h"
#include "cloud/preemption.h"
#include "fleet/aliyun_ess.h"
#include "fleet/spec.h"
#include "run/layout.h"
#include "store/store.h"

namespace baton {
namespace {

using Print = std::function<void(const std::string&)>;

// BATON_INSTANCE_ID, else the id the cloud's metadata service gives (a cloud fleet names the
// instance's stop request and heartbeat by it), else the host name.
std::string DefaultInstanceId(const JobSpec& job,
                              const std::function<void(const std::string&)>& print) {
  if (std::optional<std::string> id = GetEnvVar(EnvVar::kInstanceId)) return *id;
  if (job.cloud != "none") {
    Result<Cloud> cloud = ParseCloud(job.cloud);
    if (cloud.ok() && *cloud != Cloud::kAzure) {
      Result<std::string> id = InstanceIdFromMetadata(*cloud, job.metadata_url);
      if (id.ok()) return *id;
      print(
          fmt::format("baton agent: no instance id from the metadata service ({}); using the "
                      "host name",
                      id.status().message()));
    }
  }
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) return "unknown";
  return host;
}

// provider aliyun-ess: no controller stays up, so the agent that saw the run complete sets the
// run's scaling group to desired capacity 0 itself, with the keys of the credentials chain (on
// the instance: its RAM role through the metadata service).
void ScaleEssGroupToZero(const JobSpec& job, const std::function<void(const std::string&)>& print) {
  if (job.fleet.IsNull()) return;
  Result<fleet::FleetSpec> spec = fleet::ParseFleetSpec(job.fleet);
  if (!spec.ok() || spec->provider != "aliyun-ess") return;
  AliyunClientOptions o;
  o.region = spec->aliyun.region;
  o.endpoint = spec->aliyun.endpoint;
  AliyunClient client(o);
  Status s = fleet::EssScaleToZero(&client, spec->aliyun.region, job.name);
  if (s.ok()) {
    print(
        fmt::format("baton agent: the run is complete: scaling group '{}' set to desired "
                    "capacity 0",
                    fleet::EssGroupName(job.name)));
  } else {
    print(
        "baton agent: warning: could not scale the ESS group to zero (`baton fleet down` "
        "does it): " +
        s.ToString());
  }
}

// Everything that can ask this agent to stop: a signal, a preemption notice, or a stop request
// of the fleet in the run's store.
struct StopSources {
  std::atomic<bool>* signal_flag = nullptr;
  NoticeMonitor* monitor = nullptr;
  std::atomic<bool> fleet_request{false};

  bool requested() const { return !Cause().empty(); }
  // What asked, as the log names it ("" when nothing did).
  std::string Cause() const {
    if (monitor && monitor->stop_requested()) return "notice";
    if (signal_flag && signal_flag->load()) return "stop signal";
    if (fleet_request.load()) return "fleet's stop request";
    return "";
  }
};

// Polls the run's store for a stop request of this instance on its own thread (a slow store
// must not delay the heartbeats that a hand-off waiter watches). A request counts only if it was
// written after this agent started: one left over from an earlier instance of the same id is
// ignored (and said so once).
class StopRequestPoller {
 public:
  StopRequestPoller(Store* store, std::string instance, int64_t started_unix_ms, double period_s,
                    std::atomic<bool>* flag, std::function<void(const std::string&)> print)
      : store_(store),
        instance_(std::move(instance)),
        started_ms_(started_unix_ms),
        flag_(flag),
        print_(std::move(print)) {
    // The first read before the agent goes on: a request already there is seen at once.
    if (!PollOnce()) {
      ticker_ = std::make_unique<PeriodicThread>(
          period_s, [this] { return !PollOnce(); }, /*tick_first=*/false);
    }
  }

 private:
  // One read; true once a request counts.
  bool PollOnce() {
    Result<std::optional<StopRequest>> r = ReadStopRequest(store_, instance_);
    if (r.ok() && *r && (*r)->unix_ms >= started_ms_) {
      print_(fmt::format("baton agent: the fleet asks this instance to stop ({})", (*r)->reason));
      flag_->store(true);
      return true;
    }
    if (r.ok() && *r && !told_stale_) {
      told_stale_ = true;
      print_(fmt::format("baton agent: ignoring a stop request older than this agent ({})",
                         (*r)->reason));
    } else if (!r.ok() && !warned_) {
      warned_ = true;
      print_("baton agent: warning: reading the fleet's stop request: " + r.status().ToString());
    }
    return false;
  }

  Store* store_;
  std::string instance_;
  int64_t started_ms_;
  std::atomic<bool>* flag_;
  std::function<void(const std::string&)> print_;
  bool warned_ = false, told_stale_ = false;
  std::unique_ptr<PeriodicThread> ticker_;  // last: stopped (and joined) first
};

Result<AgentOutcome> TrainInProcess(const JobSpec& job, const AgentOptions& options,
                                    NoticeMonitor* monitor, HeartbeatWriter& heartbeat,
                                    const Print& print, const StopSources& stops) {
  Env* env = options.env;
  auto now_ms = [env] { return static_cast<int64_t>(env->NowMicros() / 1000); };
  // The first moment a stop was asked for (notice or signal), to measure the checkpoint.
  std::optional<uint64_t> stop_seen_us;
  std::optional<Notice> notice;
  std::string cause;
  TrainerHooks hooks;
  hooks.print = print;
  hooks.progress = [&](const TrainProgress& p) { heartbeat.Update(p); };
  hooks.startup = [&](const ColdStart& split) {
    ColdStart c = split;
    c.total =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - options.start).count();
    print("baton agent: " + c.Describe());
    heartbeat.Change([&](Heartbeat& h) { h.cold_start = c; });  // written with `started`
  };
  hooks.started = [&](int64_t resumed_step, int64_t max_steps) {
    heartbeat.Change([&](Heartbeat& h) {
      h.resumed_step = resumed_step;
      h.global_step = resumed_step;
      h.max_steps = max_steps;
      h.state = AgentState::kTraining;
    });
    heartbeat.WriteNow();
  };
  bool stopped_in_standby = false;
  std::unique_ptr<Store> handoff_store;  // outlives the hook, which RunTraining calls later
  if (options.handoff) {
    hooks.before_lease = [&]() -> Status {
      BATON_ASSIGN_OR_RETURN(handoff_store,
                             OpenStore(job.train.output_dir, OpenMode::kCreateIfMissing, env));
      Store* store = handoff_store.get();
      HandoffOptions ho;
      ho.stale_seconds = std::max(30.0, 6 * job.heartbeat_seconds);
      ho.print = print;
      ho.stop_requested = [&] { return stops.requested(); };
      ho.env = env;
      return WaitForHandoff(store, heartbeat, ho, &stopped_in_standby);
    };
  }
  hooks.should_stop = [&] {
    bool stop = stops.requested();
    if (stop && !stop_seen_us) {
      stop_seen_us = env->NowMicros();
      cause = stops.Cause();
      if (monitor && cause == "notice") notice = monitor->notice();
    }
    return stop;
  };
  Result<TrainOutcome> r = RunTraining(job.train, hooks, env);
  if (stopped_in_standby) {
    print("baton agent: stopped while on stand-by; the run was never taken");
    heartbeat.Finish(AgentState::kStopped);
    return AgentOutcome::kStopped;
  }
  if (!r.ok()) {
    heartbeat.Finish(AgentState::kFailed);
    return r.status();
  }
  switch (*r) {
    case TrainOutcome::kAlreadyComplete:
      heartbeat.Finish(AgentState::kComplete);
      return AgentOutcome::kAlreadyComplete;
    case TrainOutcome::kFenced:
      heartbeat.Finish(AgentState::kFenced);
      return AgentOutcome::kFenced;
    case TrainOutcome::kStopped: {
      double secs =
          stop_seen_us ? static_cast<double>(env->NowMicros() - *stop_seen_us) / 1e6 : 0.0;
      std::string window;
      if (notice && notice->deadline_unix_ms > 0) {
        window = fmt::format(", {:.1f} s before the deadline",
                             (notice->deadline_unix_ms - now_ms()) / 1000.0);
      }
      print(fmt::format("baton agent: checkpointed and stopped {:.2f} s after the {}{}", secs,
                        cause, window));
      heartbeat.Change([secs](Heartbeat& h) { h.stop_to_checkpoint_seconds = secs; });
      heartbeat.Finish(AgentState::kStopped);
      return AgentOutcome::kStopped;
    }
    case TrainOutcome::kCompleted:
      break;
  }
  return AgentOutcome::kCompleted;
}

}  // namespace

Result<AgentOutcome> RunAgent(const JobSpec& job, const AgentOptions& options) {
  Env* env = options.env;
  auto now_ms = [env] { return static_cast<int64_t>(env->NowMicros() / 1000); };
  Print print = [&](const std::string& s) {
    if (options.print) {
      options.print(s);
    } else {
      std::fprintf(stderr, "%s\n", s.c_str());
    }
  };
  std::string instance =
      options.instance_id.empty() ? DefaultInstanceId(job, print) : options.instance_id;
  BATON_RETURN_IF_ERROR(ValidateInstanceId(instance));
  std::string billing =
      options.billing.empty() ? GetEnvVar(EnvVar::kBilling).value_or("") : options.billing;
  BATON_ASSIGN_OR_RETURN(std::unique_ptr<Store> store,
                         OpenStore(job.train.output_dir, OpenMode::kCreateIfMissing, env));
  BATON_ASSIGN_OR_RETURN(bool complete, IsComplete(store.get()));
  if (complete) {
    print(fmt::format("baton agent: run '{}' is complete ({}); nothing to do", job.name,
                      store->Url()));
    return AgentOutcome::kAlreadyComplete;
  }

  std::unique_ptr<NoticeMonitor> monitor;
  if (job.cloud != "none") {
    BATON_ASSIGN_OR_RETURN(Cloud cloud, ParseCloud(job.cloud));
    BATON_ASSIGN_OR_RETURN(std::unique_ptr<PreemptionWatcher> watcher,
                           PreemptionWatcher::Create(cloud, job.metadata_url));
    NoticeMonitorOptions mo;
    // The local fleet compresses time, so its notice windows are seconds long.
    if (std::optional<std::string> ms = GetEnvVar(EnvVar::kNoticePollMs);
        ms && std::atoi(ms->c_str()) > 0) {
      mo.poll_interval_ms = std::atoi(ms->c_str());
    }
    Store* reports = store.get();
    mo.on_notice = [print, reports, instance, env](const Notice& n) {
      print("baton agent: preemption notice: " + DescribeNotice(n));
      if (n.kind != NoticeKind::kRebalance) return;
      // Advisory: training goes on; the fleet, which cannot read this instance's metadata,
      // moves the run elsewhere make-before-break (run/layout.h RebalanceReport).
      RebalanceReport r{instance, DescribeNotice(n), static_cast<int64_t>(env->NowMicros() / 1000)};
      if (Status s = WriteRebalanceReport(reports, r); !s.ok()) {
        print("baton agent: warning: could not report the rebalance recommendation: " +
              s.ToString());
      }
    };
    monitor = std::make_unique<NoticeMonitor>(std::move(watcher), mo);
  }
  StopSources stops;
  stops.signal_flag = options.stop_flag;
  stops.monitor = monitor.get();

  Heartbeat base;
  base.run = job.name;
  base.instance = instance;
  base.billing = billing;
  base.state = job.command.empty() ? AgentState::kLoading : AgentState::kTraining;
  base.pid = getpid();
  base.started_unix_ms = now_ms();
  HeartbeatWriter heartbeat(store.get(), base, job.heartbeat_seconds, env);
  StopRequestPoller stop_poller(store.get(), instance, base.started_unix_ms, job.heartbeat_seconds,
                                &stops.fleet_request, print);

  SuperviseOptions so;
  so.print = print;
  so.stop_requested = [&] { return stops.requested(); };
  so.env = env;
  Result<AgentOutcome> r =
      job.command.empty() ? TrainInProcess(job, options, monitor.get(), heartbeat, print, stops)
                          : Supervise(job, store.get(), heartbeat, so);
  if (monitor) monitor->Stop();
  // The outcomes other than completion and failure wrote their final state already.
  heartbeat.Finish(!r.ok()                          ? std::optional(AgentState::kFailed)
                   : *r == AgentOutcome::kCompleted ? std::optional(AgentState::kComplete)
                                                    : std::nullopt);
  if (!r.ok() || *r != AgentOutcome::kCompleted) return r;
  PostWebhooks(job, store->Url(), instance, print, env);
  if (job.scale_to_zero) {
    // The request goes through the run's store, the only state the controller and the agents
    // share; the controller sets the group's desired capacity to 0 through its provider.
    ScaleToZeroRequest request;
    request.instance = instance;
    request.unix_ms = now_ms();
    if (Status s = WriteScaleToZeroRequest(store.get(), request); s.ok()) {
      print(fmt::format("baton agent: asked the fleet to scale to zero ({})",
                        JoinKey(store->Url(), kScaleToZeroKey)));
    } else {
      print("baton agent: warning: the scale-to-zero request: " + s.ToString());
    }
  }
  ScaleEssGroupToZero(job, print);
  return AgentOutcome::kCompleted;
}

}  // namespace baton
