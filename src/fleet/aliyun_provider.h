// The `aliyun` provider: Baton's own controller (controller.h) drives Alibaba Cloud ECS directly.
//
//   Launch   RunInstances: one pay-as-you-go instance of the offer's type in the vSwitch of its
//            zone; spot offers with SpotStrategy SpotAsPriceGo (or SpotWithPriceLimit with the
//            offer's spot_price_limit); UserData is `baton agent cloud-init` for the run's job
//            (with --handoff for a make-before-break launch), so a stock image works; tagged
//            baton:run=<job name> and baton:offer=<offer>; a ClientToken makes a retried call
//            idempotent. OperationDenied.NoStock and the other "no capacity" answers mark the
//            offer as without capacity for no_stock_backoff, then it is tried again.
//   Stock    DescribeAvailableResource (per instance type and billing, every poll) says which
//            zones have stock, so the policy sees spot leave and come back; a NoStock answer
//            to RunInstances also counts until the backoff ends.
//   Watch    DescribeInstances by the baton:run tag, every poll: the `Recycling` operation lock
//            (compared case-insensitively) is a reclaim notice; an instance that disappears was
//            released. Heartbeats in the run's bucket say loading / standby / training / final.
//   Stop     a StopRequest in the bucket (the agent checkpoints and exits, as on a notice); the
//            instance is deleted (DeleteInstance, Force) once its agent's heartbeat is final, or
//            when stop_grace has passed.
//   Bill     spot time at the offer's price, or (spot_bill: price_history) at the market's from
//            DescribeSpotPriceHistory; fleet/ledger.json in the run's bucket: every instance's
//            launch and release times and its offer; the cloud forgets released instances, the
//            ledger does not. A restarted controller reads it and adopts the run's tagged instances
//            (also ones launched just before a crash, before the ledger was written), so nothing is
//            launched twice.
// API pages followed: shared/notes/cloud-apis.md 2.1 and 2.3 (RunInstances, DescribeInstances,
// OperationLocks, ClientToken), and DeleteInstance (ECS API reference, Instances/DeleteInstance:
// InstanceId, Force).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/env.h"
#include "cloud/aliyun_api.h"
#include "fleet/agent_track.h"
#include "fleet/provider.h"
#include "fleet/spec.h"
#include "run/layout.h"
#include "store/store.h"

namespace baton::fleet {

struct AliyunProviderOptions {
  std::string run;      // the job's name: tags and instance names
  std::string job_url;  // where instances read the job (the run's fleet/job.yaml)
  std::string baton_path = "/usr/local/bin/baton";  // on the instance
  Env* env = nullptr;                               // clock and sleep; null: Env::Default()
  // `fleet status`: look only. Nothing is written (ledger, stop requests) and nothing deleted.
  bool read_only = false;
  std::function<void(const std::string&)> print;
};

// A launch the cloud refused for lack of capacity: what the controller retries elsewhere.
bool IsNoCapacity(const AliyunError& error);

// Shared with the aliyun-ess provider (aliyun_ess.h):
// "baton-<run>" with what ECS/ESS names do not allow replaced by '-', at most `max` characters.
std::string AliyunName(const std::string& run, size_t max);
// A fresh ClientToken (at most 64 ASCII characters): a retried call is not done twice.
std::string NewClientToken();
// Base64 of the agent's cloud-init for the run's job (cloud/agent_service.h).
Result<std::string> AliyunUserData(const AliyunFleetSpec& aliyun, const std::string& job_url,
                                   const std::string& baton_path, bool handoff);
inline constexpr char kAliyunRunTag[] = "baton:run";

class AliyunProvider : public Provider {
 public:
  // Opens the run's fleet: reads the ledger (or starts one) and the run's tagged instances.
  static Result<std::unique_ptr<AliyunProvider>> Open(const FleetSpec& spec, AliyunClient* client,
                                                      Store* store, AliyunProviderOptions options);

  std::string name() const override { return "aliyun"; }
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
  // Deletes every live instance of the run now (DeleteInstance, Force), without waiting for a
  // checkpoint: `fleet down --force`, and the last step of a graceful down.
  Status DeleteAll(const std::string& why);
  const FleetLedger& ledger() const { return ledger_; }
  // The newest heartbeat of an instance's agent, as the last look saw it.
  std::optional<Heartbeat> HeartbeatOf(const std::string& id) const;
  Status SetStoppedReason(const std::string& reason);
  // Unix ms of provider time `t`.
  int64_t UnixMs(double t) const;

 private:
  struct Tracked {
    Instance info;
    AgentTrack track;
    bool seen = false;      // DescribeInstances has listed it
    bool deleted = false;   // we asked for DeleteInstance
    bool noticed = false;   // Recycling seen
    double notice_at = -1;  // when (provider time)
    // Saved in the ledger before they are acted on, so a restarted controller redoes them:
    double stop_at = -1;    // the fleet asked it to stop (provider time)
    double delete_at = -1;  // the fleet asked for DeleteInstance (provider time)
    double billed_at = -1;  // when info.billed_cost was last computed (provider time)
  };
  AliyunProvider(FleetSpec spec, AliyunClient* client, Store* store, AliyunProviderOptions options);
  Status Load();
  Status RefreshStock();
  // spot_bill price_history: the spot instances' cost from DescribeSpotPriceHistory, for ended
  // ones once, for live ones at most once a minute.
  void RefreshBills();
  Result<double> SpotCostFromHistory(const Offer& offer, double from, double to);
  Status SaveLedger();
  Status WriteStop(const Tracked& t, const std::string& reason);
  // When `t` stopped costing: `now`, or earlier when it was deleted, or reclaimed after a notice,
  // while no controller watched.
  double EndTime(const Tracked& t, double now) const;
  Result<std::string> RunInstance(int offer, bool handoff);
  Status DeleteInstance(Tracked& t, const std::string& why);
  void End(Tracked& t, EndReason reason, const std::string& detail);
  void Print(const std::string& line) const;
  int OfferIndex(const std::string& name) const;
  Tracked* Find(const std::string& id);

  FleetSpec spec_;
  AliyunClient* client_;
  Store* store_;
  AliyunProviderOptions options_;
  Env* env_;
  FleetLedger ledger_;
  std::vector<Tracked> instances_;           // launch order
  std::map<int, double> no_capacity_until_;  // offer -> provider time
  // Stock per offer from DescribeAvailableResource at the last look (empty: not known, as when
  // the call is denied: then every offer counts as in stock, short of a NoStock answer).
  std::map<int, bool> in_stock_;
  bool stock_warned_ = false;
  bool bill_warned_ = false;
  bool scale_to_zero_ = false;  // desired capacity 0: nothing new, stop the rest
  RunEndWatch end_watch_;       // COMPLETE and the scale-to-zero request
  bool changed_ = false;        // the last Refresh saw a change
};

}  // namespace baton::fleet
