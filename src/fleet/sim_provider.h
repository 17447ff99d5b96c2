// The sim provider: instances as discrete events on simulated time, with no processes and no
// sleeping. Advance() jumps straight to the next thing that happens (a market event, a boot or
// load finishing, a checkpoint becoming durable, the work completing), so a run of days takes
// milliseconds.
//
// The model (all durations from spec.overheads):
//   launch -> kBooting for `boot` -> kLoading for `load` -> kRunning when nobody else holds the
//   run, else kStandby until the holder has let go (then it runs at once: it is loaded already).
//   A running instance does 1 work-second per second and resumes from the newest durable
//   checkpoint. Every `checkpoint_interval` of work it starts a checkpoint of that work, which is
//   durable `checkpoint` seconds later (asynchronous: training goes on meanwhile).
//   Stop(): the holder stops training and saves (`checkpoint` seconds), then ends kStopped;
//   one that does not hold the run ends at once.
//   A notice (capacity lost or a reclaim, with notice and notice > 0): the holder goes
//   kStopping and saves; when the save fits in the `notice` window it ends kPreempted with its
//   work kept, else it is killed when the window closes (kKilled) and the run falls back to the
//   newest durable checkpoint (saves in flight die with it). Without notice: kKilled at once,
//   same fallback. Instances that do not hold the run end at once (kPreempted / kKilled).
//   A reclaim takes the running instance of the offer if there is one, else another of it.
//   The run completes the moment the work reaches spec.work_seconds (its final save is counted
//   as part of the work): that instance ends kCompleted.
// RunProgress: rate 1 (work units are seconds), total = spec.work_seconds.
#pragma once

#include <deque>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "fleet/market.h"
#include "fleet/provider.h"
#include "fleet/spec.h"

namespace baton::fleet {

class SimProvider : public Provider {
 public:
  // spec.work_seconds must be positive.
  static Result<std::unique_ptr<SimProvider>> Create(const FleetSpec& spec,
                                                     std::unique_ptr<Market> market);

  std::string name() const override { return "sim"; }
  double Now() override { return now_; }
  bool HasCapacity(int offer) override;
  Result<std::string> Launch(int offer, bool handoff) override;
  Status Stop(const std::string& id) override;
  std::vector<Instance> Instances() override;
  RunProgress Progress() override;
  Status SetDesiredCapacity(int n) override;
  double Advance(double until) override;

  int desired_capacity() const { return desired_; }

 private:
  static constexpr double kInf = std::numeric_limits<double>::infinity();
  struct Sim {
    Instance info;
    double boot_done = 0, load_done = 0;
    double save_done = kInf;  // kStopping: when its checkpoint is durable
    double kill_at = kInf;    // kStopping after a notice whose window is too short
    double save_work = 0;     // the work that checkpoint holds
    EndReason after_save = EndReason::kStopped;
    bool alive() const { return info.state != InstanceState::kEnded; }
  };
  struct Save {
    double work = 0, done_at = 0;
  };

  SimProvider(const FleetSpec& spec, std::unique_ptr<Market> market);
  double NextInternal() const;
  void MoveTo(double t);  // time passes: the holder's work grows
  bool Settle();          // applies whatever is due now; true when anything changed
  bool SettleOnce();
  void ApplyMarket(double from, double to);
  void Preempt(int i, bool notice, const std::string& why);
  void StartRunning(int i);
  void End(int i, EndReason reason, const std::string& detail);
  bool Due(double t) const;

  FleetSpec spec_;
  std::unique_ptr<Market> market_;
  double now_ = 0;
  int desired_ = 1;
  std::vector<Sim> sims_;
  int holder_ = -1;  // index of the instance holding the run (running, or saving to let go)
  double work_ = 0;  // the holder's work at now_ (while it runs)
  double durable_ = 0;
  double newest_work_ = 0;
  double next_checkpoint_ = kInf;  // work at which the holder starts its next periodic save
  std::deque<Save> saves_;         // the holder's periodic saves in flight
  bool complete_ = false;
};

}  // namespace baton::fleet
