#include "fleet/sim_provider.h"

#include <algorithm>
#include <cmath>

namespace baton::fleet {
namespace {

// Times and work come from sums of the spec's durations; a step that lands a hair short of a
// boundary must still count as reaching it (or Advance would creep towards it forever).
constexpr double kEps = 1e-6;

}  // namespace

Result<std::unique_ptr<SimProvider>> SimProvider::Create(const FleetSpec& spec,
                                                         std::unique_ptr<Market> market) {
  if (spec.work_seconds <= 0) {
    return InvalidArgument("the sim provider needs the work the job takes (fleet.work_hours)");
  }
  if (!market) return InvalidArgument("the sim provider needs a market");
  return std::unique_ptr<SimProvider>(new SimProvider(spec, std::move(market)));
}

SimProvider::SimProvider(const FleetSpec& spec, std::unique_ptr<Market> market)
    : spec_(spec), market_(std::move(market)) {}

bool SimProvider::Due(double t) const { return t <= now_ + kEps; }

bool SimProvider::HasCapacity(int offer) {
  if (offer < 0 || offer >= static_cast<int>(spec_.offers.size())) return false;
  return market_->Available(offer, now_);
}

Result<std::string> SimProvider::Launch(int offer, bool handoff) {
  if (offer < 0 || offer >= static_cast<int>(spec_.offers.size())) {
    return InvalidArgument("no offer {}", offer);
  }
  const Offer& o = spec_.offers[offer];
  if (!market_->Available(offer, now_)) {
    return Unavailable("no {} capacity in {} for {}", BillingName(o.billing), o.zone,
                       o.instance_type);
  }
  Sim s;
  s.info.id = fmt::format("sim-{:03d}-{}-{}", sims_.size() + 1, o.zone,
                          o.billing == Billing::kSpot ? "spot" : "od");
  s.info.offer = offer;
  s.info.handoff = handoff;
  s.info.launched_at = now_;
  s.boot_done = now_ + spec_.overheads.boot;
  s.load_done = s.boot_done + spec_.overheads.load;
  sims_.push_back(s);
  return s.info.id;
}

Status SimProvider::Stop(const std::string& id) {
  for (int i = 0; i < static_cast<int>(sims_.size()); ++i) {
    Sim& s = sims_[i];
    if (s.info.id != id || !s.alive()) continue;
    if (i != holder_) {
      End(i, EndReason::kStopped, "stopped before it held the run");
    } else if (s.info.state == InstanceState::kRunning) {
      s.info.state = InstanceState::kStopping;
      s.save_work = work_;
      s.save_done = now_ + spec_.overheads.checkpoint;
      s.after_save = EndReason::kStopped;
      s.info.detail = "stopping: checkpoint, then let go";
    }
    return Status::Ok();
  }
  return Status::Ok();
}

std::vector<Instance> SimProvider::Instances() {
  std::vector<Instance> out;
  out.reserve(sims_.size());
  for (const Sim& s : sims_) out.push_back(s.info);
  return out;
}

RunProgress SimProvider::Progress() {
  RunProgress p;
  p.done = newest_work_;
  p.total = spec_.work_seconds;
  p.checkpoint = durable_;
  p.rate = 1;
  p.complete = complete_;
  return p;
}

Status SimProvider::SetDesiredCapacity(int n) {
  desired_ = n;
  if (n > 0) return Status::Ok();
  for (const Sim& s : sims_) {
    if (s.alive()) BATON_RETURN_IF_ERROR(Stop(s.info.id));
  }
  return Status::Ok();
}

void SimProvider::End(int i, EndReason reason, const std::string& detail) {
  Sim& s = sims_[i];
  s.info.state = InstanceState::kEnded;
  s.info.end_reason = reason;
  s.info.ended_at = now_;
  s.info.detail = detail;
  if (i == holder_) holder_ = -1;
}

void SimProvider::StartRunning(int i) {
  Sim& s = sims_[i];
  holder_ = i;
  work_ = durable_;
  const double interval = spec_.overheads.checkpoint_interval;
  next_checkpoint_ = interval > 0 ? (std::floor(work_ / interval + kEps) + 1) * interval : kInf;
  s.info.state = InstanceState::kRunning;
  s.info.running_at = now_;
  s.info.start_work = work_;
  s.info.last_work = work_;
  s.info.detail = "";
}

void SimProvider::MoveTo(double t) {
  if (t <= now_) return;
  if (holder_ >= 0 && sims_[holder_].info.state == InstanceState::kRunning) {
    work_ = std::min(spec_.work_seconds, work_ + (t - now_));
    sims_[holder_].info.last_work = work_;
    newest_work_ = std::max(newest_work_, work_);
  }
  now_ = t;
}

double SimProvider::NextInternal() const {
  double next = kInf;
  for (int i = 0; i < static_cast<int>(sims_.size()); ++i) {
    const Sim& s = sims_[i];
    switch (s.info.state) {
      case InstanceState::kBooting:
        next = std::min(next, s.boot_done);
        break;
      case InstanceState::kLoading:
        next = std::min(next, s.load_done);
        break;
      case InstanceState::kStopping:
        next = std::min({next, s.save_done, s.kill_at});
        break;
      case InstanceState::kRunning:
        if (i == holder_) {
          next = std::min(
              {next, now_ + (spec_.work_seconds - work_), now_ + (next_checkpoint_ - work_)});
        }
        break;
      default:
        break;
    }
  }
  if (!saves_.empty()) next = std::min(next, saves_.front().done_at);
  return next;
}

bool SimProvider::SettleOnce() {
  if (!saves_.empty() && Due(saves_.front().done_at)) {
    durable_ = std::max(durable_, saves_.front().work);
    saves_.pop_front();
    return true;
  }
  if (holder_ >= 0 && sims_[holder_].info.state == InstanceState::kRunning) {
    if (work_ >= spec_.work_seconds - kEps) {
      work_ = durable_ = newest_work_ = spec_.work_seconds;
      sims_[holder_].info.last_work = work_;
      complete_ = true;
      saves_.clear();
      End(holder_, EndReason::kCompleted, "the run completed");
      return true;
    }
    if (work_ >= next_checkpoint_ - kEps) {
      saves_.push_back({next_checkpoint_, now_ + spec_.overheads.checkpoint});
      next_checkpoint_ += spec_.overheads.checkpoint_interval;
      return true;
    }
  }
  for (int i = 0; i < static_cast<int>(sims_.size()); ++i) {
    Sim& s = sims_[i];
    switch (s.info.state) {
      case InstanceState::kBooting:
        if (Due(s.boot_done)) {
          s.info.state = InstanceState::kLoading;
          return true;
        }
        break;
      case InstanceState::kLoading:
        if (Due(s.load_done)) {
          s.info.state = InstanceState::kStandby;
          return true;
        }
        break;
      case InstanceState::kStandby:
        // The earliest launched waiting instance takes the run once nobody holds it.
        if (holder_ < 0 && !complete_) {
          StartRunning(i);
          return true;
        }
        break;
      case InstanceState::kStopping:
        if (Due(s.save_done) && s.save_done <= s.kill_at) {
          durable_ = std::max(durable_, s.save_work);
          End(i, s.after_save,
              s.after_save == EndReason::kPreempted ? "checkpointed within the notice"
                                                    : "checkpointed and stopped");
          return true;
        }
        if (Due(s.kill_at)) {
          saves_.clear();
          End(i, EndReason::kKilled, "the notice ran out before its checkpoint was saved");
          return true;
        }
        break;
      default:
        break;
    }
  }
  return false;
}

bool SimProvider::Settle() {
  bool changed = false;
  while (SettleOnce()) changed = true;
  return changed;
}

void SimProvider::Preempt(int i, bool notice, const std::string& why) {
  Sim& s = sims_[i];
  if (notice && spec_.overheads.notice > 0) {
    if (s.info.state == InstanceState::kStopping) {
      s.kill_at = std::min(s.kill_at, now_ + spec_.overheads.notice);
    } else if (i == holder_) {
      s.info.state = InstanceState::kStopping;
      s.save_work = work_;
      s.save_done = now_ + spec_.overheads.checkpoint;
      s.kill_at = now_ + spec_.overheads.notice;
      s.after_save = EndReason::kPreempted;
      s.info.detail = fmt::format("{}: notice of {:g} s, checkpoint of {:g} s", why,
                                  spec_.overheads.notice, spec_.overheads.checkpoint);
    } else {
      End(i, EndReason::kPreempted, why + " before it held the run");
    }
    return;
  }
  if (i == holder_) saves_.clear();  // its saves in flight die with it
  End(i, EndReason::kKilled, why + ", without notice");
}

void SimProvider::ApplyMarket(double from, double to) {
  for (const MarketEvent& e : market_->Events(from, to)) {
    if (e.kind == MarketEvent::Kind::kCapacityBack) continue;
    if (e.kind == MarketEvent::Kind::kCapacityLost) {
      for (int i = 0; i < static_cast<int>(sims_.size()); ++i) {
        if (sims_[i].alive() && sims_[i].info.offer == e.offer) {
          Preempt(i, e.notice, "spot capacity lost");
        }
      }
      continue;
    }
    int victim = -1;
    for (int i = 0; i < static_cast<int>(sims_.size()); ++i) {
      const Sim& s = sims_[i];
      if (!s.alive() || s.info.offer != e.offer) continue;
      if (victim < 0 || s.info.state == InstanceState::kRunning) victim = i;
    }
    if (victim >= 0) Preempt(victim, e.notice, "spot instance reclaimed");
  }
}

double SimProvider::Advance(double until) {
  // Zero-length steps (no boot time, an instant save) happen without time passing.
  if (Settle()) return now_;
  const double from = now_;
  double next = std::min({until, NextInternal(), market_->NextEventAfter(now_)});
  if (next <= now_) return now_;
  MoveTo(next);
  Settle();
  ApplyMarket(from, now_);
  Settle();
  return now_;
}

}  // namespace baton::fleet
