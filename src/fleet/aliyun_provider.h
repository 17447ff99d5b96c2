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
#include "fleet/cloud_provider.h"
#include "fleet/provider.h"
#include "fleet/spec.h"
#include "run/layout.h"
#include "store/store.h"

namespace baton::fleet {

using AliyunProviderOptions = CloudProviderOptions;

// A launch the cloud refused for lack of capacity: what the controller retries elsewhere.
bool IsNoCapacity(const AliyunError& error);

// Shared with the aliyun-ess provider (aliyun_ess.h):
// "baton-<run>" with what ECS/ESS names do not allow replaced by '-', at most `max` characters.
std::string AliyunName(const std::string& run, size_t max);
// Base64 of the agent's cloud-init for the run's job (cloud/agent_service.h).
Result<std::string> AliyunUserData(const AliyunFleetSpec& aliyun, const std::string& job_url,
                                   const std::string& baton_path, bool handoff);
inline constexpr const char* kAliyunRunTag = kCloudRunTag;

class AliyunProvider : public CloudProvider {
 public:
  // Opens the run's fleet: reads the ledger (or starts one) and the run's tagged instances.
  static Result<std::unique_ptr<AliyunProvider>> Open(const FleetSpec& spec, AliyunClient* client,
                                                      Store* store, AliyunProviderOptions options);

  std::string name() const override { return "aliyun"; }

 protected:
  Result<std::string> LaunchOne(int offer, bool handoff) override;
  Status DeleteOne(const std::string& id) override;
  Status ListRun(std::map<std::string, CloudListing>* out) override;
  void RefreshStock() override;
  bool InStock(int offer) const override;
  // spot_bill price_history: the spot instances' cost from DescribeSpotPriceHistory, for ended
  // ones once, for live ones at most once a minute.
  void RefreshBills() override;

 private:
  AliyunProvider(const FleetSpec& spec, AliyunClient* client, Store* store,
                 AliyunProviderOptions options);
  Status LookUpStock();
  Result<double> SpotCostFromHistory(const Offer& offer, double from, double to);

  AliyunClient* client_;
  // Stock per offer from DescribeAvailableResource at the last look (empty: not known, as when
  // the call is denied: then every offer counts as in stock, short of a NoStock answer).
  std::map<int, bool> in_stock_;
  bool stock_warned_ = false;
  bool bill_warned_ = false;
};

}  // namespace baton::fleet
