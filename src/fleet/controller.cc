#include "fleet/controller.h"

#include <algorithm>
#include <cmath>

namespace baton::fleet {
namespace {

bool Alive(const Instance& i) { return i.state != InstanceState::kEnded; }

}  // namespace

// One step's reading of the provider, and the instances sorted by role.
struct Controller::View {
  double now = 0;
  std::vector<Instance> all;
  RunProgress progress;
  std::vector<bool> capacity;
  const Instance* running = nullptr;   // holds the run and trains
  const Instance* stopping = nullptr;  // checkpointing to let go (notice or our Stop)
  const Instance* pending = nullptr;   // the newest one launched and not yet running
  int failures = 0;                    // agent failures in a row
  const Instance* last_failed = nullptr;
};

Controller::Controller(const FleetSpec& spec, Provider* provider, ControllerOptions options)
    : spec_(spec),
      provider_(provider),
      options_(std::move(options)),
      policy_(MakePolicy(spec, SwitchDelay(spec))) {}

double Controller::SwitchDelay(const FleetSpec& spec) {
  return spec.overheads.boot + spec.overheads.load + spec.overheads.checkpoint;
}

void Controller::Print(double now, const std::string& message) {
  if (options_.print) {
    options_.print(fmt::format("t={} {}: {}", FormatHours(now), PolicyName(spec_.policy), message));
  }
  last_once_.clear();
}

void Controller::PrintOnce(double now, const std::string& message) {
  if (message == last_once_) return;
  Print(now, message);
  last_once_ = message;
}

void Controller::NoteChanges(const View& v) {
  if (seen_capacity_.size() != spec_.offers.size()) seen_capacity_.assign(spec_.offers.size(), -1);
  for (size_t i = 0; i < spec_.offers.size(); ++i) {
    int now_has = v.capacity[i] ? 1 : 0;
    if (seen_capacity_[i] >= 0 && seen_capacity_[i] != now_has) {
      Print(v.now,
            fmt::format("{} capacity {} in {} ({})", BillingName(spec_.offers[i].billing),
                        now_has ? "back" : "lost", spec_.offers[i].zone, spec_.offers[i].Name()));
    }
    seen_capacity_[i] = now_has;
  }
  for (const Instance& in : v.all) {
    std::string state = Alive(in) ? InstanceStateName(in.state) : EndReasonName(in.end_reason);
    auto it = seen_.find(in.id);
    if (it != seen_.end() && it->second == state) continue;
    const bool first_look = it == seen_.end();
    seen_[in.id] = state;
    if (first_look && !Alive(in)) continue;  // history of an earlier controller
    std::string what;
    if (first_look) {
      what =
          fmt::format("found {} {} (launched at t={})", in.id, state, FormatHours(in.launched_at));
    } else if (in.state == InstanceState::kRunning) {
      what = v.progress.total > 0
                 ? fmt::format("{} training, from {:.1f}% of the work", in.id,
                               100 * std::max(0.0, in.start_work) / v.progress.total)
                 : fmt::format("{} training", in.id);
    } else if (in.state == InstanceState::kStandby) {
      what = fmt::format("{} loaded, on stand-by to take over", in.id);
    } else if (in.state == InstanceState::kStopping) {
      what = fmt::format("{} checkpointing to let go{}", in.id,
                         in.detail.empty() ? "" : " (" + in.detail + ")");
    } else if (!Alive(in)) {
      what = fmt::format("{} ended: {}{}", in.id, state,
                         in.detail.empty() ? "" : " (" + in.detail + ")");
    } else {
      continue;  // booting -> loading: nothing to decide on
    }
    Print(v.now, what);
  }
}

Status Controller::LaunchChosen(const View& v, PolicyInput in, bool handoff, int stay) {
  if (v.failures > 0 && v.last_failed) {
    double backoff = std::min(
        3600.0, options_.failure_backoff_seconds * std::pow(2.0, std::min(v.failures - 1, 20)));
    double at = v.last_failed->ended_at + backoff;
    if (v.now < at) {
      PrintOnce(v.now, fmt::format("the agent failed {} time{} in a row: next launch at t={}",
                                   v.failures, v.failures == 1 ? "" : "s", FormatHours(at)));
      return Status::Ok();
    }
  }
  // An offer the provider turns down (capacity gone since the policy looked) counts as having
  // no capacity this step: ask the policy again without it.
  for (size_t tries = 0; tries <= spec_.offers.size(); ++tries) {
    int target = policy_->Choose(in);
    if (target < 0) {
      PrintOnce(v.now, "waiting: no offer to run on now");
      return Status::Ok();
    }
    if (target == stay) return Status::Ok();
    Result<std::string> id = provider_->Launch(target, handoff);
    if (id.ok()) {
      seen_[*id] = InstanceStateName(InstanceState::kBooting);
      std::string why = !handoff    ? "launch"
                        : v.running ? fmt::format("switch from {} (make-before-break): launch",
                                                  spec_.offers[v.running->offer].Name())
                                    : "replace the instance that is letting go: launch";
      Print(v.now, fmt::format("{} {} on {}{}", why, *id, spec_.offers[target].Name(),
                               handoff ? " to take over" : ""));
      return Status::Ok();
    }
    if (id.status().code() != StatusCode::kUnavailable) return id.status();
    Print(v.now, fmt::format("{}: {}", spec_.offers[target].Name(), id.status().message()));
    in.capacity[target] = false;
  }
  return Status::Ok();
}

Status Controller::Reconcile(const View& v) {
  const RunProgress& p = v.progress;
  if (p.complete || p.scale_to_zero_requested) {
    // Also with nothing left alive: a cloud group must not start a new instance.
    PrintOnce(v.now, p.complete ? "the run completed: desired capacity 0"
                                : "an agent asked to scale to zero: desired capacity 0");
    return provider_->SetDesiredCapacity(0);
  }
  if (v.failures >= options_.max_failures) {
    return FailedPrecondition("the agent failed {} times in a row; giving up. The last ({}): {}",
                              v.failures, v.last_failed->id, v.last_failed->detail);
  }
  PolicyInput in;
  in.now = v.now;
  in.capacity = v.capacity;
  in.total = p.total;
  in.rate = p.rate;
  // The progress a new holder would resume from, or the running one has.
  in.done = p.checkpoint;
  if (v.running) in.done = std::max(in.done, v.running->last_work);

  if (v.running) {
    in.current_offer = v.running->offer;
    if (v.pending) {
      // A switch is in flight: finish it (make-before-break) once the new one is loaded.
      if (v.pending->state != InstanceState::kStandby) return Status::Ok();
      Print(v.now, fmt::format("{} is ready: stop {} (it checkpoints, then {} takes over)",
                               v.pending->id, v.running->id, v.pending->id));
      return provider_->Stop(v.running->id);
    }
    return LaunchChosen(v, in, /*handoff=*/true, /*stay=*/v.running->offer);
  }
  if (v.stopping) {
    // The holder is saving (a notice, or the end of a switch). A replacement launched now boots
    // meanwhile and takes the run once the holder let go.
    if (v.pending) return Status::Ok();
    return LaunchChosen(v, in, /*handoff=*/true, /*stay=*/-1);
  }
  if (v.pending) {
    in.current_offer = v.pending->offer;
    int target = policy_->Choose(in);
    if (target < 0 || target == v.pending->offer) return Status::Ok();
    // Nothing runs yet, so changing course costs only the boot so far.
    Print(v.now, fmt::format("{} is not wanted any more ({} is): stop it", v.pending->id,
                             spec_.offers[target].Name()));
    BATON_RETURN_IF_ERROR(provider_->Stop(v.pending->id));
    in.current_offer = -1;
    return LaunchChosen(v, in, /*handoff=*/false, /*stay=*/-1);
  }
  return LaunchChosen(v, in, /*handoff=*/false, /*stay=*/-1);
}

Status Controller::Step() {
  View v;
  v.now = provider_->Now();
  v.all = provider_->Instances();
  v.progress = provider_->Progress();
  v.capacity.resize(spec_.offers.size());
  for (size_t i = 0; i < spec_.offers.size(); ++i) {
    v.capacity[i] = provider_->HasCapacity(static_cast<int>(i));
  }
  for (const Instance& in : v.all) {
    if (in.end_reason == EndReason::kFailed) {
      ++v.failures;
      v.last_failed = &in;
    } else if (in.running_at >= 0) {
      v.failures = 0;  // it trained: the agent works
    }
    if (!Alive(in)) continue;
    if (in.state == InstanceState::kRunning) {
      v.running = &in;
    } else if (in.state == InstanceState::kStopping) {
      v.stopping = &in;
    } else {
      v.pending = &in;
    }
  }
  if (options_.print) NoteChanges(v);  // printing only; it costs a map lookup per instance
  Status s = Reconcile(v);
  const bool over = v.progress.complete || v.progress.scale_to_zero_requested;
  finished_ = over && std::none_of(v.all.begin(), v.all.end(), Alive);
  return s;
}

FleetReport Controller::Report() {
  return BuildReport(spec_, provider_->Instances(), provider_->Progress(), provider_->Now());
}

Result<FleetReport> Controller::Run() {
  double last_t = -1;
  int steps_at_t = 0;
  for (;;) {
    if (options_.should_stop && options_.should_stop()) return FailedPrecondition("stopped");
    BATON_RETURN_IF_ERROR(Step());
    if (options_.progress) options_.progress(Report());
    if (finished_) return Report();
    const double now = provider_->Now();
    if (now >= options_.max_seconds) {
      return FailedPrecondition("gave up at t={}: the run did not complete within max_seconds",
                                FormatHours(now));
    }
    const double t =
        provider_->Advance(std::min(now + options_.tick_seconds, options_.max_seconds));
    // Steps at one instant are how zero-length transitions settle; endless ones are a bug.
    steps_at_t = t == last_t ? steps_at_t + 1 : 0;
    last_t = t;
    if (steps_at_t > 10000) {
      return Internal("the fleet makes no progress at t={}: the provider keeps changing",
                      FormatHours(t));
    }
  }
}

}  // namespace baton::fleet
