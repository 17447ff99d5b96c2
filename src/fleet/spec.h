// The fleet section of a job spec: what capacity to keep, on which offers, under which policy.
//
//   fleet:
//     capacity: 1                      # instances to keep (one run: 1)
//     policy: spot-first               # spot-first | spot-only | on-demand | deadline
//     deadline_hours: 16               # deadline policy: finish within this much time of the start
//     provider: local                  # local (processes on this machine) | sim (discrete events)
//     work_hours: 12                   # sim: compute the job needs on one instance
//     time_scale: 60                   # local: simulated seconds per real second
//     offers:                          # instance type x zones x billing, with prices per hour
//       - {instance_type: ecs.gn7i-c8g1.2xlarge, zones: [cn-hangzhou-h, cn-hangzhou-i],
//          spot: 3.5, on_demand: 10}
//     overheads: {boot_minutes: 2, load_minutes: 1, checkpoint_minutes: 0.5,
//                 checkpoint_interval_minutes: 30, notice_minutes: 2}
//     market: {...}                    # the spot market (market.h)
//     sim_start_hours: [0, 120, 240]   # baton sim: run each policy from each of these points of
//                                      # the market's timeline and average (default: [0])
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
  double price_per_hour = 0;  // currency units per instance-hour
  std::string Name() const;   // "ecs.gn7i-c8g1.2xlarge@cn-hangzhou-h/spot"
};

enum class PolicyKind { kSpotFirst, kSpotOnly, kOnDemand, kDeadline };
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
