// What the cloud providers driven by Baton's own controller share (`aliyun`, aliyun_provider.h;
// `aws`, aws_provider.h): the run's ledger, the instances it tracks through their agents'
// heartbeats, stops, deletions, capacity backoffs and the poll loop. A cloud provider supplies
// four calls: launch one instance, delete one, list the run's tagged instances, and (optionally)
// what it knows of stock and bills.
//
//   Launch   the cloud's call; a "no capacity" answer marks the offer without capacity for the
//            backoff (MarkNoCapacity), then it is tried again.
//   Watch    the run's tagged instances, every poll: a reclaim notice the cloud shows, and an
//            instance that disappears was released. Heartbeats in the run's bucket say
//            loading / standby / training / final.
//   Stop     a StopRequest in the bucket (the agent checkpoints and exits, as on a notice); the
//            instance is deleted once its agent's heartbeat is final, or when stop_grace has
//            passed. An agent that stopped on its own (its notice came from the metadata
//            service, where the controller cannot look) ends as preempted.
//   Rebalance an agent's RebalanceReport (AWS's rebalance recommendation, run/layout.h) marks its
//            spot offer without capacity for the backoff: the policy moves the run elsewhere,
//            make-before-break, before any interruption notice.
//   Ledger   fleet/ledger.json in the run's bucket: every instance's launch and release times and
//            its offer; each action (a stop, a deletion) is saved before it is done, so a
//            restarted controller redoes what the instance shows no sign of, and adopts tagged
//            instances the ledger lacks (launched just before a crash).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/env.h"
#include "fleet/agent_track.h"
#include "fleet/provider.h"
#include "fleet/spec.h"
#include "run/layout.h"
#include "store/store.h"

namespace baton::fleet {

struct CloudProviderOptions {
  std::string run;      // the job's name: tags and instance names
  std::string job_url;  // where instances read the job (the run's fleet/job.yaml)
  std::string baton_path = "/usr/local/bin/baton";  // on the instance
  Env* env = nullptr;                               // clock and sleep; null: Env::Default()
  // `fleet status`: look only. Nothing is written (ledger, stop requests) and nothing deleted.
  bool read_only = false;
  std::function<void(const std::string&)> print;
};

// The cloud's settings the shared code runs by.
struct CloudTimings {
  std::string region;
  double poll_seconds = 15;
  double stop_grace_seconds = 300;
  double no_capacity_backoff_seconds = 300;
  // A reclaimed instance is gone this long after its notice (Alibaba 5 min, AWS 2 min).
  double reclaim_notice_seconds = 300;
};

// One of the run's instances as the cloud lists it.
struct CloudListing {
  std::string offer;            // its baton:offer tag
  int64_t created_unix_ms = 0;  // 0: not said
  bool notice = false;          // a reclaim notice runs
  std::string notice_detail;    // "reclaim notice (Recycling)"
};

// The settings of the spec's cloud section (aliyun or aws).
CloudTimings CloudTimingsOf(const FleetSpec& spec, double reclaim_notice_seconds);

inline constexpr char kCloudRunTag[] = "baton:run";
inline constexpr char kCloudOfferTag[] = "baton:offer";

// The agent's cloud-init for the run's job (cloud/agent_service.h): what an instance boots with
// (`--handoff` for a make-before-break launch), before any encoding the cloud's API wants.
Result<std::string> AgentUserData(const CloudProviderOptions& options,
                                  const std::string& binary_url, bool handoff);

// A fresh ClientToken (at most 64 ASCII characters): a retried call is not done twice.
std::string NewClientToken();

class CloudProvider : public Provider {
 public:
  double Now() override;
  bool HasCapacity(int offer) override;
  Result<std::string> Launch(int offer, bool handoff) override;
  Status Stop(const std::string& id) override;
  std::vector<Instance> Instances() override;
  RunProgress Progress() override;
  Status SetDesiredCapacity(int n) override;
  double Advance(double until) override;

  // One look at the cloud and the bucket (what Advance does each poll).
  Status Refresh();
  // Deletes every live instance of the run now, without waiting for a checkpoint:
  // `fleet down --force`, and the last step of a graceful down.
  Status DeleteAll(const std::string& why);
  const FleetLedger& ledger() const { return ledger_; }
  // The newest heartbeat of an instance's agent, as the last look saw it.
  std::optional<Heartbeat> HeartbeatOf(const std::string& id) const;
  Status SetStoppedReason(const std::string& reason);
  // Unix ms of provider time `t`.
  int64_t UnixMs(double t) const;

 protected:
  struct Tracked {
    Instance info;
    AgentTrack track;
    bool seen = false;        // the cloud has listed it
    bool deleted = false;     // we asked for its deletion
    bool noticed = false;     // a reclaim notice was seen
    bool rebalanced = false;  // its agent reported a rebalance recommendation
    double notice_at = -1;    // when (provider time)
    // Saved in the ledger before they are acted on, so a restarted controller redoes them:
    double stop_at = -1;    // the fleet asked it to stop (provider time)
    double delete_at = -1;  // the fleet asked the cloud to delete it (provider time)
    double billed_at = -1;  // when info.billed_cost was last computed (provider time)
  };

  CloudProvider(FleetSpec spec, Store* store, CloudProviderOptions options, CloudTimings timings);
  // Reads the ledger (or starts one) and takes a first look; what Open of a subclass calls.
  Status Open();

  // The cloud's calls. LaunchOne returns the new instance's id; for a "no capacity" answer it
  // calls MarkNoCapacity and returns Unavailable. DeleteOne is Ok when the instance is gone.
  virtual Result<std::string> LaunchOne(int offer, bool handoff) = 0;
  virtual Status DeleteOne(const std::string& id) = 0;
  // The run's instances (tagged baton:run=<run>) that still exist, by id.
  virtual Status ListRun(std::map<std::string, CloudListing>* out) = 0;
  // Before each look: what the cloud says of stock (false: the offer has none now).
  virtual void RefreshStock() {}
  virtual bool InStock(int /*offer*/) const { return true; }
  // After each look: bills from the cloud's prices.
  virtual void RefreshBills() {}

  void MarkNoCapacity(int offer);
  void Print(const std::string& line) const;
  const FleetSpec& spec() const { return spec_; }
  const CloudProviderOptions& options() const { return options_; }
  std::vector<Tracked>& tracked() { return instances_; }
  void MarkChanged() { changed_ = true; }

 private:
  Status Load();
  Status SaveLedger();
  Status WriteStop(const Tracked& t, const std::string& reason);
  // When `t` stopped costing: `now`, or earlier when it was deleted, or reclaimed after a notice,
  // while no controller watched.
  double EndTime(const Tracked& t, double now) const;
  Status DeleteInstance(Tracked& t, const std::string& why);
  void End(Tracked& t, EndReason reason, const std::string& detail);
  int OfferIndex(const std::string& name) const;
  Tracked* Find(const std::string& id);

  FleetSpec spec_;
  Store* store_;
  CloudProviderOptions options_;
  CloudTimings timings_;
  Env* env_;
  FleetLedger ledger_;
  std::vector<Tracked> instances_;           // launch order
  std::map<int, double> no_capacity_until_;  // offer -> provider time
  bool scale_to_zero_ = false;               // desired capacity 0: nothing new, stop the rest
  RunEndWatch end_watch_;                    // COMPLETE and the scale-to-zero request
  bool changed_ = false;                     // the last Refresh saw a change
};

}  // namespace baton::fleet
