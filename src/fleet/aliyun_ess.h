// The `aliyun-ess` provider: the recipe's architecture (an ESS scaling group of spot instances),
// made and driven by Baton. `fleet up` creates or updates one scaling group and its scaling
// configuration, named after the run, enables the group and sets its desired capacity to 1; no
// controller stays up. ESS keeps one instance: spot first across the vSwitches' zones
// (MultiAZPolicy COST_OPTIMIZED), on-demand when no spot is left (CompensateWithOnDemand, for
// spot-first), back to spot when it returns (CapacityOptions.SpotAutoReplaceOnDemand), a
// replacement on a reclaim notice (SpotInstanceRemedy). Every instance boots with the agent's
// cloud-init (--handoff: a replacement waits for the holder to checkpoint); the agent that sees
// the run complete sets the group's desired capacity to 0 through the API, with its instance's
// RAM role. `fleet down` asks the agents to checkpoint (stop requests in the bucket), sets the
// capacity to 0 and deletes the group (ForceDelete) and so its configuration.
// API pages followed: shared/notes/cloud-apis.md 2.2 (CreateScalingGroup,
// CreateScalingConfiguration, EnableScalingGroup, ModifyScalingGroup, DescribeScalingGroups,
// DescribeScalingInstances, DeleteScalingGroup), and ESS's ModifyScalingConfiguration and
// DescribeScalingConfigurations (ESS API reference, Scaling configurations), whose parameters
// are CreateScalingConfiguration's plus ScalingConfigurationId.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "cloud/aliyun_api.h"
#include "fleet/spec.h"

namespace baton::fleet {

// "baton-<run>": the scaling group's and the configuration's name (2-64 characters).
std::string EssGroupName(const std::string& run);

struct EssGroup {
  std::string id;
  std::string lifecycle;  // Active | Inactive | Deleting
  std::string active_configuration_id;
  int64_t min_size = 0, max_size = 0, desired = 0, total = 0;
};
// The run's scaling group, nullopt when there is none.
Result<std::optional<EssGroup>> FindEssGroup(AliyunClient* client, const std::string& region,
                                             const std::string& run);

struct EssInstance {
  std::string id;
  std::string lifecycle;  // InService, Pending, Removing, ...
  std::string zone;
  bool spot = false;
  std::string created;  // "2020-12-21T03:11:00Z"
};
Result<std::vector<EssInstance>> ListEssInstances(AliyunClient* client, const std::string& region,
                                                  const std::string& group_id);

struct EssUpOptions {
  std::string run;
  std::string job_url;
  std::string baton_path = "/usr/local/bin/baton";
  std::function<void(const std::string&)> print;
};
// Creates what is missing and updates what exists (the group's spot settings, the
// configuration), enables the group and sets the desired capacity to 1. `made` gets a line for
// each resource as it comes to exist ("scaling group asg-... (created)"), so that a failure half
// way can say what exists. Returns the group.
Result<EssGroup> EssUp(const FleetSpec& spec, AliyunClient* client, const EssUpOptions& options,
                       std::vector<std::string>* made);

Status EssSetDesiredCapacity(AliyunClient* client, const std::string& group_id, int n);
// The agent's end of a run: the run's group (found by name) to desired capacity 0.
Status EssScaleToZero(AliyunClient* client, const std::string& region, const std::string& run);
// DeleteScalingGroup with ForceDelete: its instances are released, its configurations go.
Status EssDeleteGroup(AliyunClient* client, const std::string& group_id);

}  // namespace baton::fleet
