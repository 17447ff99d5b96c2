#include "fleet/agent_track.h"

#include <algorithm>

namespace baton::fleet {

bool AgentTrack::Poll(Store* store, double now, Instance* info, bool* changed) {
  Result<std::optional<Heartbeat>> read = ReadHeartbeat(store, info->id);
  if (!read.ok() || !*read) return false;
  const Heartbeat& hb = **read;
  if (state != hb.state) {
    state = hb.state;
    *changed = true;
  }
  double step = static_cast<double>(hb.global_step.value_or(0));
  max_steps = hb.max_steps.value_or(0);
  if (hb.resumed_step && info->start_work < 0) {
    info->start_work = static_cast<double>(*hb.resumed_step);
  }
  if (std::optional<int64_t> s = ParseCheckpointPath(hb.last_checkpoint)) {
    checkpoint_step = std::max(checkpoint_step, *s);
  }
  if (hb.state == AgentState::kTraining && step != info->last_work) {
    if (rate_t0 < 0 && info->running_at >= 0 && info->start_work >= 0 && now > info->running_at &&
        step > info->start_work) {
      // A provider that re-opened the run (a restarted controller, `fleet status`) knows when
      // the instance began training and from which step: a rate from its first look.
      rate_t0 = info->running_at;
      rate_step0 = info->start_work;
    } else if (rate_t0 < 0) {
      rate_t0 = now;
      rate_step0 = step;
    }
    rate_t1 = now;
    rate_step1 = step;
    *changed = true;
  }
  if (hb.global_step) info->last_work = step;
  last = hb;
  if (info->state == InstanceState::kStopping || info->state == InstanceState::kEnded) {
    return false;
  }
  if (hb.state == AgentState::kStandby && info->state != InstanceState::kStandby) {
    info->state = InstanceState::kStandby;
  } else if (hb.state == AgentState::kTraining && info->state != InstanceState::kRunning) {
    info->state = InstanceState::kRunning;
    info->running_at = now;
    return true;
  } else if (hb.state == AgentState::kLoading && info->state == InstanceState::kBooting) {
    info->state = InstanceState::kLoading;
    *changed = true;
  }
  return false;
}

RunProgress ProgressOf(const std::vector<const AgentTrack*>& tracks,
                       const std::vector<const Instance*>& infos) {
  RunProgress r;
  const AgentTrack* latest = nullptr;
  for (size_t i = 0; i < tracks.size(); ++i) {
    const AgentTrack* t = tracks[i];
    r.done = std::max(r.done, infos[i]->last_work);
    r.total = std::max(r.total, static_cast<double>(t->max_steps));
    r.checkpoint = std::max(r.checkpoint, static_cast<double>(t->checkpoint_step));
    if (t->rate_t1 > t->rate_t0 && t->rate_step1 > t->rate_step0) latest = t;
  }
  if (latest) {
    r.rate = (latest->rate_step1 - latest->rate_step0) / (latest->rate_t1 - latest->rate_t0);
  }
  return r;
}

void RunEndWatch::Read(Store* store, const std::function<void(const std::string&)>& warn,
                       RunProgress* progress) {
  Result<bool> complete = IsComplete(store);
  Result<bool> scale_to_zero = ScaleToZeroRequested(store);
  for (const Result<bool>* read : {&complete, &scale_to_zero}) {
    if (!read->ok() && !warned_) {
      warned_ = true;
      warn("warning: reading the run's store: " + read->status().ToString());
    }
  }
  if (complete.ok()) complete_ = *complete;
  if (scale_to_zero.ok()) scale_to_zero_ = *scale_to_zero;
  progress->complete = complete_;
  progress->scale_to_zero_requested = scale_to_zero_;
}

}  // namespace baton::fleet
