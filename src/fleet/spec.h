// The fleet section of a job spec: what capacity to keep, on which offers, under which policy.
//
//   fleet:
//     capacity: 1                      # instances to keep (one run: 1)
//     policy: spot-first               # spot-first | spot-only | on-demand | deadline | adaptive
//     deadline_hours: 16               # deadline policy: finish within this much time of the start
//     provider: local                  # local (processes on this machine) | sim (discrete events)
//                                      # | aliyun (ECS, Baton's controller) | aliyun-ess (a group)
//                                      # | aws (EC2, Baton's controller; the `aws` section below)
//     max_cost: 80                     # cloud providers: stop the run when its bill reaches this
//     work_hours: 12                   # sim: compute the job needs on one instance
//     time_scale: 60                   # local: simulated seconds per real second
//     offers:                          # instance type x zones x billing, with prices per hour
//       - {instance_type: ecs.gn7i-c8g1.2xlarge, zones: [cn-hangzhou-h, cn-hangzhou-i],
//          spot: 3.5, on_demand: 10}
//       # cloud providers, optional: the highest spot price per hour to pay (SpotWithPriceLimit);
//       # without it the instance pays the market price, at most the on-demand one (SpotAsPriceGo)
//       #   spot_price_limit: 5
//     aliyun:                          # aliyun / aliyun-ess: where and what to launch
//       region: cn-hangzhou
//       image_id: aliyun_3_x64_20G_alibase_20240819.vhd
//       vswitches: {cn-hangzhou-h: vsw-bp1..., cn-hangzhou-i: vsw-bp2...}   # one per offer zone
//       security_group_id: sg-bp1...
//       ram_role: BatonInstanceRole    # the instances' RAM role: OSS, and ESS scale-to-zero
//       system_disk_gb: 100            # optional (image default); system_disk_category: cloud_essd
//       tags: {team: ml}               # optional, on every instance (and the ESS group)
//       binary_url: https://...        # where an instance downloads baton (cloud-init); omit
//                                      # when the image has /usr/local/bin/baton already
//       endpoint: http://127.0.0.1:8080   # optional: one base URL for ECS and ESS (tests,
//                                      # private endpoints); else BATON_ALIYUN_ENDPOINT, else the
//                                      # public ecs.<region>.aliyuncs.com / ess.<region>...
//       poll_seconds: 15               # aliyun: the controller's period
//       stop_grace_minutes: 5          # aliyun: a stopped instance is deleted after this at most
//       no_stock_backoff_minutes: 5    # aliyun: a zone out of spot stock is tried again after
//       spot_bill: offer               # aliyun: bill spot time at the offer's price, or at the
//                                      # market's (price_history: DescribeSpotPriceHistory)
//     aws:                             # aws: where and what to launch (docs/aws.md)
//       region: us-east-1
//       image_id: ami-0abc...
//       subnets: {us-east-1a: subnet-0a..., us-east-1b: subnet-0b...}   # one per offer zone
//       security_group_ids: [sg-0abc...]
//       instance_profile: BatonInstanceProfile   # name or ARN: S3 for the run's bucket
//       key_name: my-key               # optional; tags, binary_url, endpoint as for aliyun
//       poll_seconds: 15               # the controller's period
//       stop_grace_minutes: 5          # a stopped instance is terminated after this at most
//       no_capacity_backoff_minutes: 5 # an offer EC2 had no capacity for is tried again after
//     overheads: {boot_minutes: 2, load_minutes: 1, checkpoint_minutes: 0.5,
//                 checkpoint_interval_minutes: 30, notice_minutes: 2}
//     market: {...}                    # the spot market (market.h)
//     sim_start_hours: [0, 120, 240]   # baton sim: run each policy from each of these points of
//                                      # the market's timeline and average (default: [0])
//     sim_tune_start_hours: [0, 24]    # baton sim: tune policy adaptive's parameters on runs
//                                      # from these points (and report it on sim_start_hours)
//
// Durations: every key written `<name>_hours` above (deadline, work, sim_start) may also be
// given as `<name>_minutes` or `<name>_seconds`, and every `<name>_minutes` one (the overheads)
// as `<name>_hours` or `<name>_seconds`; giving two forms of one duration is an error.
// Offers: `zone: z` or `zones: [z1, z2]`; `spot` and `on_demand` are prices per hour, and a
// billing without a price is not offered. Each offer expands to one Offer per zone x billing.
// Unknown keys are errors. Only one instance at a time is supported (capacity: 1).
//
// Every error names the file, line, column and key path
// ("demo.yaml:14:38: fleet.offers[0].spot: must be a positive price"): the section is read with
// the marks of the YAML it came from (base/spec_node.h).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "base/spec_node.h"
#include "base/status.h"

namespace baton::fleet {

enum class Billing { kSpot, kOnDemand };
const char* BillingName(Billing billing);  // "spot" | "on-demand"

// One thing the controller can launch: an instance type in a zone, billed spot or on demand.
struct Offer {
  std::string instance_type;
  std::string zone;
  Billing billing = Billing::kSpot;
  double price_per_hour = 0;    // currency units per instance-hour
  double spot_price_limit = 0;  // cloud spot offers: the most to pay per hour (0: market price)
  std::string Name() const;     // "ecs.gn7i-c8g1.2xlarge@cn-hangzhou-h/spot"
};

enum class PolicyKind { kSpotFirst, kSpotOnly, kOnDemand, kDeadline, kAdaptive };
const char* PolicyName(PolicyKind kind);  // "spot-first" | ...
Result<PolicyKind> ParsePolicyName(const std::string& name);

// Overheads in seconds of (simulated) time. The sim provider applies them; the local provider
// has real ones and measures them.
struct Overheads {
  double boot = 0;                 // launch -> agent started
  double load = 0;                 // agent started -> training (fetch and load model, resume)
  double checkpoint = 0;           // one checkpoint save
  double checkpoint_interval = 0;  // work seconds between periodic checkpoints (0: none)
  double notice = 120;             // preemption notice window; 0: reclaimed without notice
};

// Policy adaptive's thresholds (policy.h), in seconds of slack: the time to the deadline left
// over once the remaining work is done on one instance.
struct AdaptiveParams {
  double wait_slack = 3 * 3600;    // with no spot anywhere, wait while the slack is above this
  double return_slack = 6 * 3600;  // on on-demand, go back to spot only with this much slack
  // Also run on on-demand (with no spot) when behind Uniform Progress's line (policy.h deadline).
  bool line = false;
};

// The `aliyun` section (providers aliyun and aliyun-ess).
struct AliyunFleetSpec {
  std::string region;
  std::string endpoint;  // "" : EnvVar::kAliyunEndpoint, else the public endpoints
  std::string image_id;
  std::vector<std::pair<std::string, std::string>> vswitches;  // zone -> vSwitch id, file order
  std::string security_group_id;
  std::string ram_role;
  int system_disk_gb = 0;  // 0: the image's default
  std::string system_disk_category;
  std::vector<std::pair<std::string, std::string>> tags;
  std::string binary_url;
  double poll_seconds = 15;
  double stop_grace_seconds = 300;
  double no_stock_backoff_seconds = 300;
  bool spot_bill_from_history = false;  // spot_bill: price_history

  // The vSwitch of `zone`, "" when the section names none.
  std::string VSwitchOf(const std::string& zone) const;
};

// The `aws` section (provider aws).
struct AwsFleetSpec {
  std::string region;
  std::string endpoint;  // "" : AWS_ENDPOINT_URL_EC2, else AWS_ENDPOINT_URL, else the public one
  std::string image_id;
  std::vector<std::pair<std::string, std::string>> subnets;  // zone -> subnet id, file order
  std::vector<std::string> security_group_ids;
  std::string instance_profile;  // IamInstanceProfile name or ARN ("" for none)
  std::string key_name;
  std::vector<std::pair<std::string, std::string>> tags;
  std::string binary_url;
  double poll_seconds = 15;
  double stop_grace_seconds = 300;
  double no_capacity_backoff_seconds = 300;

  // The subnet of `zone`, "" when the section names none.
  std::string SubnetOf(const std::string& zone) const;
};

// Whether a provider name is one of the cloud ones (they need `fleet up`, not `baton run`).
bool IsCloudProvider(const std::string& provider);
// aliyun or aliyun-ess: the ones that read the `aliyun` section.
bool IsAliyunProvider(const std::string& provider);

struct FleetSpec {
  int capacity = 1;
  PolicyKind policy = PolicyKind::kSpotFirst;
  double deadline_seconds = 0;  // deadline policy, from the start of the run (0: none)
  std::string provider = "local";
  double work_seconds = 0;    // sim: compute the job needs
  double time_scale = 1;      // local: simulated seconds per real second
  std::vector<Offer> offers;  // spot offers first, cheapest first; then on-demand, cheapest first
  Overheads overheads;
  SpecNode market;  // the market section, read by MakeMarket (IsNull: spot always available)
  // baton sim: points of the market's timeline (seconds) to start the run from; empty: [0].
  std::vector<double> sim_start_seconds;
  // baton sim: where policy adaptive is tuned (empty: it runs with its default parameters).
  std::vector<double> sim_tune_start_seconds;
  AdaptiveParams adaptive;  // not read from YAML: defaults, or what `baton sim` tuned
  double max_cost = 0;      // cloud providers: stop the run at this bill (0: no cap)
  AliyunFleetSpec aliyun;   // provider aliyun / aliyun-ess
  AwsFleetSpec aws;         // provider aws
};

// Parses and validates `fleet`, the job spec's section (JobSpec::fleet, or SpecNode::Parse of a
// section given alone with the path "fleet"). The market is checked by MakeMarket.
Result<FleetSpec> ParseFleetSpec(const SpecNode& fleet);

// Whether `policy` can run on the spec's offers (spot-only needs a spot offer; on-demand,
// spot-first and deadline an on-demand one; deadline a deadline). ParseFleetSpec checks the
// spec's own policy (at fleet.policy's place); `baton sim` checks each policy it compares, which
// may come from its --policy flag rather than the file: the error names `source` and fleet.policy.
Status CheckPolicyFits(const FleetSpec& spec, PolicyKind policy, const std::string& source);

}  // namespace baton::fleet
