// baton fleet plan|up|status|down JOB.yaml: the run on a real cloud (fleet.provider aliyun,
// aliyun-ess or aws).
//
//   plan    what `up` would launch, where, at which prices, and the estimated cost and time (the
//           simulator on the job's market, when fleet.work_hours is given); only read-only API
//           calls (DescribeRegions, DescribeZones; on AWS DescribeAvailabilityZones: they also
//           check the keys and the region)
//   up      uploads the agents' copy of the job to <store>/fleet/job.yaml and runs Baton's
//           controller in the foreground (fleet/aliyun_provider.h, aws_provider.h); asks before
//           launching billable instances unless --yes. Ctrl-C leaves the instances running: `up`
//           again adopts them, `down` stops them. fleet.max_cost stops the run when its bill
//           reaches it
//   status  the run's instances, progress, newest checkpoint and cost so far, from the cloud and
//           the run's bucket; changes nothing
//   down    asks every instance to checkpoint and stop, waits (up to the section's stop_grace),
//           then deletes whatever is left; --force deletes at once
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "base/env.h"
#include "base/json.h"
#include "cli/agent_job.h"
#include "cli/commands.h"
#include "cli/ui_flag.h"
#include "cloud/aliyun_api.h"
#include "cloud/aws_api.h"
#include "cloud/metadata_time.h"
#include "fleet/aliyun_ess.h"
#include "fleet/aliyun_provider.h"
#include "fleet/aws_provider.h"
#include "fleet/controller.h"
#include "fleet/event_log.h"
#include "fleet/report.h"
#include "fleet/simulate.h"
#include "fleet/spec.h"
#include "job/job_spec.h"
#include "run/layout.h"
#include "store/cache.h"
#include "store/store.h"
#include "train/trainer.h"

namespace baton::cli {
namespace {

struct FleetFlags {
  std::string job;
  bool yes = false;
  bool force = false;
  UiFlag ui;  // up
};

struct FleetJob {
  std::string path;
  std::string text;
  JobSpec job;
  fleet::FleetSpec spec;
  std::string store_url;
};

Result<FleetJob> LoadFleetJob(const std::string& path, const std::string& command) {
  FleetJob f;
  f.path = path;
  BATON_ASSIGN_OR_RETURN(f.text, Env::Default()->ReadFile(path));
  BATON_ASSIGN_OR_RETURN(f.job, ParseJobSpec(f.text, path));
  if (f.job.fleet.IsNull()) {
    return f.job.fleet.Error(fmt::format("`baton fleet {}` needs a fleet section", command));
  }
  BATON_ASSIGN_OR_RETURN(f.spec, fleet::ParseFleetSpec(f.job.fleet));
  if (!fleet::IsCloudProvider(f.spec.provider)) {
    return f.job.fleet.Error(
        "provider", fmt::format("`baton fleet` drives a cloud (aliyun, aliyun-ess, aws); '{}' runs "
                                "with `baton {}`",
                                f.spec.provider, f.spec.provider == "sim" ? "sim" : "run"));
  }
  if (f.spec.provider == "aliyun-ess" && f.spec.max_cost > 0) {
    return f.job.fleet.Error("max_cost",
                             "a budget cap needs Baton's controller to watch the bill: use "
                             "provider aliyun, or leave max_cost out with aliyun-ess");
  }
  f.store_url = Absolute(f.job.train.output_dir);
  return f;
}

std::unique_ptr<AliyunClient> MakeClient(const fleet::FleetSpec& spec) {
  AliyunClientOptions o;
  o.region = spec.aliyun.region;
  o.endpoint = spec.aliyun.endpoint;
  return std::make_unique<AliyunClient>(o);
}

std::unique_ptr<AwsClient> MakeAwsClient(const fleet::FleetSpec& spec) {
  AwsClientOptions o;
  o.region = spec.aws.region;
  o.endpoint = spec.aws.endpoint;
  return std::make_unique<AwsClient>(o);
}

const std::string& RegionOf(const fleet::FleetSpec& spec) {
  return spec.provider == "aws" ? spec.aws.region : spec.aliyun.region;
}

// Every offer's zone must be one of the region's.
Status CheckOfferZones(const FleetJob& f, const std::vector<std::string>& zones) {
  for (const fleet::Offer& o : f.spec.offers) {
    if (std::find(zones.begin(), zones.end(), o.zone) == zones.end()) {
      return f.job.fleet.Error("offers",
                               fmt::format("zone {} is not in region {} (its zones: {})", o.zone,
                                           RegionOf(f.spec), fmt::join(zones, ", ")));
    }
  }
  return Status::Ok();
}

// AWS: DescribeAvailabilityZones checks the keys and the region, and lists the zones.
Status AwsPreflight(AwsClient* client, const FleetJob& f) {
  Result<XmlElement> answer = client->Call(AwsService::kEc2, "DescribeAvailabilityZones", {});
  if (!answer.ok()) {
    return answer.status().WithContext(
        fmt::format("checking the AWS keys and region {}", f.spec.aws.region));
  }
  std::vector<std::string> zones;
  for (const XmlElement* z : AwsItems(answer->Child("availabilityZoneInfo"))) {
    zones.push_back(z->ChildText("zoneName"));
  }
  return CheckOfferZones(f, zones);
}

// Read-only calls that check the keys, the region and the zones before anything is made.
Status Preflight(AliyunClient* client, const FleetJob& f) {
  const SpecNode aliyun = f.job.fleet.Get("aliyun");
  RpcParams none;
  Result<Json> regions = client->Call(AliyunService::kEcs, "DescribeRegions", none);
  if (!regions.ok()) {
    return regions.status().WithContext("checking the Alibaba Cloud keys and region");
  }
  std::string known;
  bool found = false;
  for (const Json& r : AliyunList(*regions, "Regions", "Region")) {
    std::string id = JsonStringOr(r, "RegionId");
    known += (known.empty() ? "" : ", ") + id;
    found = found || id == f.spec.aliyun.region;
  }
  if (!found) {
    return aliyun.Error("region", fmt::format("unknown region '{}' (ECS DescribeRegions lists: {})",
                                              f.spec.aliyun.region, known));
  }
  RpcParams q;
  q.Set("RegionId", f.spec.aliyun.region);
  Result<Json> zones = client->Call(AliyunService::kEcs, "DescribeZones", q);
  if (!zones.ok()) return zones.status().WithContext("listing the region's zones");
  std::vector<std::string> ids;
  for (const Json& z : AliyunList(*zones, "Zones", "Zone"))
    ids.push_back(JsonStringOr(z, "ZoneId"));
  return CheckOfferZones(f, ids);
}

void PrintAgentAndBudget(const std::string& binary_url, double max_cost) {
  std::printf("  agent: %s\n", binary_url.empty()
                                   ? "/usr/local/bin/baton from the image (no binary_url)"
                                   : ("downloaded at boot from " + binary_url).c_str());
  std::printf("  budget: %s\n",
              max_cost > 0
                  ? fmt::format("stop at a bill of {}", fleet::FormatMoney(max_cost)).c_str()
                  : "no cap (set fleet.max_cost)");
}

std::string OfferLine(const fleet::FleetSpec& spec, const fleet::Offer& o) {
  std::string how = o.billing == fleet::Billing::kOnDemand ? "NoSpot"
                    : o.spot_price_limit > 0
                        ? fmt::format("SpotWithPriceLimit {:.3f}", o.spot_price_limit)
                        : "SpotAsPriceGo";
  return fmt::format("  {:<48} {:>8}/h  vSwitch {}  {}", o.Name(),
                     fleet::FormatMoney(o.price_per_hour), spec.aliyun.VSwitchOf(o.zone), how);
}

void PrintPlan(const FleetJob& f, AliyunClient* client) {
  const fleet::FleetSpec& s = f.spec;
  const fleet::AliyunFleetSpec& a = s.aliyun;
  std::printf("job '%s' on Alibaba Cloud: provider %s, region %s, policy %s\n", f.job.name.c_str(),
              s.provider.c_str(), a.region.c_str(), fleet::PolicyName(s.policy));
  std::printf("  API: %s\n", client->EndpointOf(AliyunService::kEcs).c_str());
  std::printf("  run's bucket: %s (the job goes to %s)\n", f.store_url.c_str(), kFleetJobKey);
  std::printf(
      "Baton's controller launches one pay-as-you-go ECS instance at a time (RunInstances), "
      "tagged baton:run=%s, on the offer the policy picks:\n",
      f.job.name.c_str());
  for (const fleet::Offer& o : s.offers) std::printf("%s\n", OfferLine(s, o).c_str());
  std::printf(
      "  image %s, security group %s, RAM role %s, system disk %s\n", a.image_id.c_str(),
      a.security_group_id.c_str(), a.ram_role.empty() ? "(none)" : a.ram_role.c_str(),
      a.system_disk_gb > 0 ? fmt::format("{} GiB", a.system_disk_gb).c_str() : "(the image's)");
  PrintAgentAndBudget(a.binary_url, s.max_cost);
}

void PrintAwsPlan(const FleetJob& f, AwsClient* client) {
  const fleet::FleetSpec& s = f.spec;
  const fleet::AwsFleetSpec& a = s.aws;
  std::printf("job '%s' on AWS: provider aws, region %s, policy %s\n", f.job.name.c_str(),
              a.region.c_str(), fleet::PolicyName(s.policy));
  std::printf("  API: %s\n", client->EndpointOf(AwsService::kEc2).c_str());
  std::printf("  run's bucket: %s (the job goes to %s)\n", f.store_url.c_str(), kFleetJobKey);
  std::printf(
      "Baton's controller launches one EC2 instance at a time (RunInstances), tagged "
      "baton:run=%s, on the offer the policy picks:\n",
      f.job.name.c_str());
  for (const fleet::Offer& o : s.offers) {
    std::string how = o.billing == fleet::Billing::kOnDemand ? "on-demand"
                      : o.spot_price_limit > 0
                          ? fmt::format("spot, MaxPrice {:.4f}", o.spot_price_limit)
                          : "spot, MaxPrice the on-demand price";
    std::printf("  %-48s %8s/h  subnet %s  %s\n", o.Name().c_str(),
                fleet::FormatMoney(o.price_per_hour).c_str(), a.SubnetOf(o.zone).c_str(),
                how.c_str());
  }
  std::printf("  image %s, security groups %s, instance profile %s, key %s\n", a.image_id.c_str(),
              fmt::format("{}", fmt::join(a.security_group_ids, ",")).c_str(),
              a.instance_profile.empty() ? "(none)" : a.instance_profile.c_str(),
              a.key_name.empty() ? "(none)" : a.key_name.c_str());
  PrintAgentAndBudget(a.binary_url, s.max_cost);
}

void PrintEstimate(const FleetJob& f) {
  if (f.spec.work_seconds <= 0) {
    std::printf(
        "estimate: set fleet.work_hours (the compute the job takes on one instance) for "
        "one from the simulator\n");
    return;
  }
  Result<fleet::SimScenario> scenario = fleet::ScenarioFromJob(f.text, f.path, {f.spec.policy});
  Result<std::vector<fleet::SimResult>> r =
      scenario.ok() ? fleet::RunScenario(*scenario, {}) : scenario.status();
  if (!r.ok() || r->empty()) {
    std::printf("estimate: the simulator could not run the job's market: %s\n",
                r.ok() ? "no result" : r.status().ToString().c_str());
    return;
  }
  const fleet::SimResult& e = r->front();
  std::printf(
      "estimate (baton sim on the job's market, %s of work): cost %s, time %s, %.1f "
      "interruptions; all on-demand %s (saving %.0f%%)\n",
      fleet::FormatHours(f.spec.work_seconds).c_str(), fleet::FormatMoney(e.cost).c_str(),
      fleet::FormatHours(e.makespan_seconds).c_str(), e.interruptions,
      fleet::FormatMoney(e.baseline_cost).c_str(), 100 * e.saving_fraction);
}

// --- aliyun-ess: a scaling group does the work; no controller stays up ---

void PrintLine(const std::string& s) { std::fprintf(stderr, "%s\n", s.c_str()); }

void PrintEssPlan(const FleetJob& f, AliyunClient* client) {
  const fleet::FleetSpec& s = f.spec;
  const fleet::AliyunFleetSpec& a = s.aliyun;
  std::printf("job '%s' on Alibaba Cloud: provider aliyun-ess, region %s, policy %s\n",
              f.job.name.c_str(), a.region.c_str(), fleet::PolicyName(s.policy));
  std::printf("  API: %s\n", client->EndpointOf(AliyunService::kEss).c_str());
  std::printf("  run's bucket: %s (the job goes to %s)\n", f.store_url.c_str(), kFleetJobKey);
  Result<std::optional<fleet::EssGroup>> g = fleet::FindEssGroup(client, a.region, f.job.name);
  std::string group = !g.ok() ? "(could not look: " + g.status().ToString() + ")"
                      : *g ? fmt::format("{} exists: its settings are brought up to date", (*g)->id)
                           : "created";
  const bool spot_first = s.policy == fleet::PolicyKind::kSpotFirst;
  std::printf(
      "scaling group '%s': %s; MinSize 0, MaxSize 1, DesiredCapacity 1, MultiAZPolicy %s, "
      "CompensateWithOnDemand %s, SpotAutoReplaceOnDemand %s, SpotInstanceRemedy %s\n",
      fleet::EssGroupName(f.job.name).c_str(), group.c_str(),
      s.policy == fleet::PolicyKind::kOnDemand ? "PRIORITY" : "COST_OPTIMIZED",
      spot_first ? "true" : "false", spot_first ? "true" : "false",
      s.policy == fleet::PolicyKind::kOnDemand ? "-" : "true");
  std::printf("scaling configuration: one agent per instance (cloud-init, --handoff), offers:\n");
  for (const fleet::Offer& o : s.offers) std::printf("%s\n", OfferLine(s, o).c_str());
  std::printf(
      "  image %s, security group %s, RAM role %s (the agent scales the group to 0 with "
      "it when the run completes)\n",
      a.image_id.c_str(), a.security_group_id.c_str(),
      a.ram_role.empty() ? "(none: give one)" : a.ram_role.c_str());
}

int EssUpCmd(const FleetJob& f, AliyunClient* client, Store* store) {
  FleetLedger ledger;
  Result<std::optional<FleetLedger>> old = ReadFleetLedger(store);
  if (!old.ok()) return ReportError(old.status());
  if (*old) {
    ledger = **old;
  } else {
    ledger.run = f.job.name;
    ledger.provider = f.spec.provider;
    ledger.region = f.spec.aliyun.region;
    ledger.started_unix_ms = static_cast<int64_t>(Env::Default()->NowMicros() / 1000);
  }
  Result<bool> complete = IsComplete(store);
  if (!complete.ok()) return ReportError(complete.status());
  if (*complete) {
    // Nothing to launch: make sure the group (if any) stays at 0.
    Result<std::optional<fleet::EssGroup>> g =
        fleet::FindEssGroup(client, f.spec.aliyun.region, f.job.name);
    if (!g.ok()) return ReportError(g.status());
    if (*g && (*g)->desired != 0) {
      if (Status s = fleet::EssSetDesiredCapacity(client, (*g)->id, 0); !s.ok()) {
        return ReportError(s);
      }
    }
    std::printf(
        "run '%s' is complete (%s): nothing to launch%s\n", f.job.name.c_str(),
        JoinKey(f.store_url, std::string(kCompleteMarkerName)).c_str(),
        *g ? fmt::format("; scaling group {} is at desired capacity 0", (*g)->id).c_str() : "");
    return 0;
  }
  fleet::EssUpOptions o;
  o.run = f.job.name;
  o.job_url = JoinKey(f.store_url, kFleetJobKey);
  o.print = PrintLine;
  std::vector<std::string> made;
  Result<fleet::EssGroup> group = fleet::EssUp(f.spec, client, o, &made);
  if (!group.ok()) {
    PrintLine(made.empty() ? "baton fleet up: nothing was created"
                           : "baton fleet up: stopped half way; what exists now:");
    for (const std::string& m : made) PrintLine("  " + m);
    if (!made.empty()) {
      PrintLine("`baton fleet up` again finishes it; `baton fleet down` deletes it");
    }
    return ReportError(group.status());
  }
  ledger.stopped_reason.clear();
  ledger.SetResource("scaling_group_id", group->id);
  ledger.SetResource("scaling_configuration_id", group->active_configuration_id);
  if (Status s = WriteFleetLedger(store, ledger); !s.ok()) return ReportError(s);
  std::printf(
      "scaling group %s keeps one instance on run '%s'; the agent sets it to 0 when the "
      "run completes. `baton fleet status %s` shows it; `baton fleet down %s` stops it\n",
      group->id.c_str(), f.job.name.c_str(), f.path.c_str(), f.path.c_str());
  return 0;
}

// The price per hour of an ESS instance: the offer of its zone and billing.
double EssPrice(const fleet::FleetSpec& spec, const fleet::EssInstance& i) {
  for (const fleet::Offer& o : spec.offers) {
    if (o.zone == i.zone && (o.billing == fleet::Billing::kSpot) == i.spot) {
      return o.price_per_hour;
    }
  }
  return 0;
}

int EssStatusCmd(const FleetJob& f, AliyunClient* client, Store* store) {
  const std::string& region = f.spec.aliyun.region;
  Result<std::optional<fleet::EssGroup>> g = fleet::FindEssGroup(client, region, f.job.name);
  if (!g.ok()) return ReportError(g.status());
  if (!*g) {
    std::printf("run '%s': no scaling group '%s' in %s\n", f.job.name.c_str(),
                fleet::EssGroupName(f.job.name).c_str(), region.c_str());
  } else {
    std::printf("run '%s': scaling group %s '%s' %s, desired %lld, instances %lld\n",
                f.job.name.c_str(), (*g)->id.c_str(), fleet::EssGroupName(f.job.name).c_str(),
                (*g)->lifecycle.c_str(), static_cast<long long>((*g)->desired),
                static_cast<long long>((*g)->total));
    Result<std::vector<fleet::EssInstance>> list =
        fleet::ListEssInstances(client, region, (*g)->id);
    if (!list.ok()) return ReportError(list.status());
    double cost = 0;
    const int64_t now_ms = static_cast<int64_t>(Env::Default()->NowMicros() / 1000);
    for (const fleet::EssInstance& i : *list) {
      Result<int64_t> created = ParseRfc3339Ms(i.created);
      double hours = created.ok() ? std::max<double>(0, now_ms - *created) / 3.6e6 : 0;
      cost += hours * EssPrice(f.spec, i);
      std::printf("  %s  %s  %s  %s  up %s\n", i.id.c_str(), i.zone.c_str(),
                  i.spot ? "spot" : "on-demand", i.lifecycle.c_str(),
                  fleet::FormatHours(hours * 3600).c_str());
      Result<std::optional<Heartbeat>> hb = ReadHeartbeat(store, i.id);
      if (hb.ok() && *hb) {
        std::printf("    agent %s, step %lld/%lld%s%s\n", AgentStateName((*hb)->state),
                    static_cast<long long>((*hb)->global_step.value_or(0)),
                    static_cast<long long>((*hb)->max_steps.value_or(0)),
                    (*hb)->tokens_per_second
                        ? fmt::format(", {:.0f} tokens/s", *(*hb)->tokens_per_second).c_str()
                        : "",
                    (*hb)->last_checkpoint.empty()
                        ? ""
                        : fmt::format(", newest checkpoint {}", (*hb)->last_checkpoint).c_str());
        if ((*hb)->cold_start) std::printf("    %s\n", (*hb)->cold_start->Describe().c_str());
      }
    }
    std::printf(
        "cost of the instances up now, so far: %s (ESS forgets released instances: "
        "the bill of earlier ones is in the cloud's billing console)\n",
        fleet::FormatMoney(cost).c_str());
  }
  Result<std::optional<CompleteMarker>> done = ReadCompleteMarker(store);
  if (done.ok() && *done) {
    std::printf("the run is COMPLETE%s\n",
                (*done)->last_model_checkpoint
                    ? fmt::format(": final adapter {}",
                                  JoinKey(f.store_url, *(*done)->last_model_checkpoint))
                          .c_str()
                    : "");
  }
  return 0;
}

int EssDownCmd(const FleetJob& f, AliyunClient* client, Store* store) {
  const std::string& region = f.spec.aliyun.region;
  Result<std::optional<fleet::EssGroup>> g = fleet::FindEssGroup(client, region, f.job.name);
  if (!g.ok()) return ReportError(g.status());
  if (*g) {
    Result<std::vector<fleet::EssInstance>> list =
        fleet::ListEssInstances(client, region, (*g)->id);
    if (!list.ok()) return ReportError(list.status());
    // The agents checkpoint first: a stop request each, then wait for their final heartbeat.
    const int64_t start_ms = static_cast<int64_t>(Env::Default()->NowMicros() / 1000);
    std::vector<std::string> waiting;
    for (const fleet::EssInstance& i : *list) {
      Result<std::optional<Heartbeat>> hb = ReadHeartbeat(store, i.id);
      if (hb.ok() && *hb && IsFinalAgentState((*hb)->state)) continue;
      Status s = WriteStopRequest(store, StopRequest{i.id, "fleet down", start_ms});
      if (!s.ok()) return ReportError(s);
      waiting.push_back(i.id);
      PrintLine(fmt::format("baton fleet down: asked {} to checkpoint and stop", i.id));
    }
    const double grace = f.spec.aliyun.stop_grace_seconds;
    while (!waiting.empty()) {
      std::erase_if(waiting, [&](const std::string& id) {
        Result<std::optional<Heartbeat>> hb = ReadHeartbeat(store, id);
        return hb.ok() && (!*hb || IsFinalAgentState((*hb)->state));
      });
      const double waited =
          static_cast<double>(Env::Default()->NowMicros() / 1000 - start_ms) / 1000;
      if (waiting.empty() || waited > grace) break;
      Env::Default()->SleepMicros(
          static_cast<uint64_t>(std::min(1.0, f.spec.aliyun.poll_seconds) * 1e6));
    }
    for (const std::string& id : waiting) {
      PrintLine(fmt::format("baton fleet down: {} did not checkpoint within {}; deleting it anyway",
                            id, fleet::FormatHours(grace)));
    }
    Status s = fleet::EssSetDesiredCapacity(client, (*g)->id, 0);
    if (s.ok()) s = fleet::EssDeleteGroup(client, (*g)->id);
    if (!s.ok()) return ReportError(s.WithContext("deleting scaling group " + (*g)->id));
    PrintLine(
        fmt::format("baton fleet down: deleted scaling group {} (its configuration and "
                    "instances with it)",
                    (*g)->id));
    for (const fleet::EssInstance& i : *list) {
      if (Status d = DeleteStopRequest(store, i.id); !d.ok()) PrintLine("warning: " + d.ToString());
    }
  } else {
    PrintLine(fmt::format("baton fleet down: no scaling group '{}' in {}",
                          fleet::EssGroupName(f.job.name), region));
  }
  Result<std::optional<FleetLedger>> ledger = ReadFleetLedger(store);
  if (ledger.ok() && *ledger) {
    (*ledger)->SetResource("scaling_group_id", "");
    (*ledger)->SetResource("scaling_configuration_id", "");
    (*ledger)->stopped_reason = "down";
    if (Status s = WriteFleetLedger(store, **ledger); !s.ok()) return ReportError(s);
  }
  std::printf("baton fleet down: nothing of '%s' is left in %s; its checkpoints are in %s\n",
              f.job.name.c_str(), region.c_str(), f.store_url.c_str());
  return 0;
}

struct Fleet {
  std::unique_ptr<AliyunClient> aliyun;
  std::unique_ptr<AwsClient> aws;
  std::unique_ptr<Store> store;
  std::unique_ptr<fleet::CloudProvider> provider;
};

Result<Fleet> OpenFleet(const FleetJob& f, bool read_only,
                        std::function<void(const std::string&)> print) {
  Fleet fl;
  if (f.spec.provider == "aws") {
    fl.aws = MakeAwsClient(f.spec);
    BATON_RETURN_IF_ERROR(AwsPreflight(fl.aws.get(), f));
  } else {
    fl.aliyun = MakeClient(f.spec);
    BATON_RETURN_IF_ERROR(Preflight(fl.aliyun.get(), f));
  }
  BATON_ASSIGN_OR_RETURN(fl.store, OpenStore(f.store_url, read_only ? OpenMode::kMustExist
                                                                    : OpenMode::kCreateIfMissing));
  fleet::CloudProviderOptions o;
  o.run = f.job.name;
  o.job_url = JoinKey(f.store_url, kFleetJobKey);
  o.read_only = read_only;
  o.print = std::move(print);
  if (fl.aws) {
    BATON_ASSIGN_OR_RETURN(fl.provider,
                           fleet::AwsProvider::Open(f.spec, fl.aws.get(), fl.store.get(), o));
  } else {
    BATON_ASSIGN_OR_RETURN(fl.provider,
                           fleet::AliyunProvider::Open(f.spec, fl.aliyun.get(), fl.store.get(), o));
  }
  return fl;
}

int64_t NowMs() { return static_cast<int64_t>(Env::Default()->NowMicros() / 1000); }

// `fleet up` means go on: a scale-to-zero request of an earlier `fleet down` or budget stop is
// lifted (one of a completing agent stays: the run is complete and nothing launches anyway).
Status LiftScaleToZero(Store* store) {
  BATON_ASSIGN_OR_RETURN(bool complete, IsComplete(store));
  if (complete) return Status::Ok();
  BATON_ASSIGN_OR_RETURN(std::optional<ScaleToZeroRequest> r, ReadScaleToZeroRequest(store));
  if (!r) return Status::Ok();
  PrintLine(fmt::format("baton fleet up: lifting the scale-to-zero request of '{}' ({})",
                        r->instance, r->reason));
  return DeleteScaleToZeroRequest(store);
}

bool Confirm(const std::string& question) {
  std::fprintf(stderr, "%s [y/N] ", question.c_str());
  std::string answer;
  if (!std::getline(std::cin, answer)) return false;
  return answer == "y" || answer == "Y" || answer == "yes";
}

std::string Describe(const fleet::FleetSpec& spec, const fleet::Instance& i, double now) {
  const fleet::Offer& o = spec.offers[i.offer];
  std::string state = i.state == fleet::InstanceState::kEnded
                          ? fmt::format("ended: {}", fleet::EndReasonName(i.end_reason))
                          : fleet::InstanceStateName(i.state);
  return fmt::format("{}  {}  {}  {}  {}  since t={} ({} ago){}", i.id, o.instance_type, o.zone,
                     fleet::BillingName(o.billing), state, fleet::FormatHours(i.launched_at),
                     fleet::FormatHours(now - i.launched_at),
                     i.detail.empty() ? "" : "  " + i.detail);
}

int Status_(const FleetFlags& flags) {
  Result<FleetJob> f = LoadFleetJob(flags.job, "status");
  if (!f.ok()) return ReportError(f.status());
  if (f->spec.provider == "aliyun-ess") {
    std::unique_ptr<AliyunClient> client = MakeClient(f->spec);
    if (Status s = Preflight(client.get(), *f); !s.ok()) return ReportError(s);
    Result<std::unique_ptr<Store>> store = OpenStore(f->store_url, OpenMode::kMustExist);
    if (!store.ok()) return ReportError(store.status());
    return EssStatusCmd(*f, client.get(), store->get());
  }
  Result<Fleet> fl = OpenFleet(*f, /*read_only=*/true, PrintLine);
  if (!fl.ok()) return ReportError(fl.status());
  fleet::CloudProvider* p = fl->provider.get();
  const double now = p->Now();
  fleet::RunProgress progress = p->Progress();
  std::printf("run '%s' on %s (%s), started %s ago%s\n", f->job.name.c_str(),
              f->spec.provider.c_str(), RegionOf(f->spec).c_str(), fleet::FormatHours(now).c_str(),
              p->ledger().stopped_reason.empty()
                  ? ""
                  : fmt::format("; stopped: {}", p->ledger().stopped_reason).c_str());
  int alive = 0;
  for (const fleet::Instance& i : p->Instances()) {
    if (i.state == fleet::InstanceState::kEnded) continue;
    ++alive;
    std::printf("  %s\n", Describe(f->spec, i, now).c_str());
    if (std::optional<Heartbeat> hb = p->HeartbeatOf(i.id)) {
      std::printf("    agent %s, step %lld/%lld%s%s\n", AgentStateName(hb->state),
                  static_cast<long long>(hb->global_step.value_or(0)),
                  static_cast<long long>(hb->max_steps.value_or(0)),
                  hb->tokens_per_second
                      ? fmt::format(", {:.0f} tokens/s", *hb->tokens_per_second).c_str()
                      : "",
                  hb->last_checkpoint.empty()
                      ? ""
                      : fmt::format(", newest checkpoint {}", hb->last_checkpoint).c_str());
      if (hb->cold_start) std::printf("    %s\n", hb->cold_start->Describe().c_str());
    }
  }
  if (alive == 0) std::printf("  no instance running\n");
  fleet::FleetReport r = fleet::BuildReport(f->spec, p->Instances(), progress, now);
  std::printf("progress: step %.0f/%.0f, newest checkpoint %s%s\n", progress.done, progress.total,
              progress.checkpoint > 0
                  ? CheckpointDir(static_cast<int64_t>(progress.checkpoint)).c_str()
                  : "(none yet)",
              progress.complete ? "; the run is COMPLETE" : "");
  std::printf("cost so far: %s over %zu instances (%d interruptions)%s\n",
              fleet::FormatMoney(r.cost).c_str(), p->Instances().size(), r.interruptions,
              r.on_demand_baseline_cost > 0
                  ? fmt::format("; all on-demand would be {}",
                                fleet::FormatMoney(r.on_demand_baseline_cost))
                        .c_str()
                  : "");
  return 0;
}

// Read-only calls that check the keys, the region and the zones; then, when asked, the plan.
Status CheckCloud(const FleetJob& f, bool print_plan) {
  if (f.spec.provider == "aws") {
    std::unique_ptr<AwsClient> client = MakeAwsClient(f.spec);
    BATON_RETURN_IF_ERROR(AwsPreflight(client.get(), f));
    if (print_plan) PrintAwsPlan(f, client.get());
    return Status::Ok();
  }
  std::unique_ptr<AliyunClient> client = MakeClient(f.spec);
  BATON_RETURN_IF_ERROR(Preflight(client.get(), f));
  if (!print_plan) return Status::Ok();
  if (f.spec.provider == "aliyun-ess") {
    PrintEssPlan(f, client.get());
  } else {
    PrintPlan(f, client.get());
  }
  return Status::Ok();
}

int Plan(const FleetFlags& flags) {
  Result<FleetJob> f = LoadFleetJob(flags.job, "plan");
  if (!f.ok()) return ReportError(f.status());
  if (Status s = CheckCloud(*f, /*print_plan=*/true); !s.ok()) return ReportError(s);
  PrintEstimate(*f);
  std::printf("nothing was created; `baton fleet up %s` does it\n", flags.job.c_str());
  return 0;
}

// Waits until every instance has ended (their agents checkpoint on the stop requests), for at
// most the stop grace; then deletes what is left.
Status DrainAndDelete(fleet::CloudProvider* p, const fleet::FleetSpec& spec,
                      const std::string& why) {
  BATON_RETURN_IF_ERROR(p->SetDesiredCapacity(0));
  const double until = p->Now() + fleet::CloudTimingsOf(spec, 0).stop_grace_seconds;
  for (;;) {
    bool any = false;
    for (const fleet::Instance& i : p->Instances())
      any = any || i.state != fleet::InstanceState::kEnded;
    if (!any) return Status::Ok();
    if (p->Now() >= until) break;
    p->Advance(until);
  }
  return p->DeleteAll(why);
}

int Up(const FleetFlags& flags) {
  Result<FleetJob> f = LoadFleetJob(flags.job, "up");
  if (!f.ok()) return ReportError(f.status());
  if (Status s = CheckCloud(*f, /*print_plan=*/!flags.yes); !s.ok()) return ReportError(s);
  if (!IsRemoteUrl(f->store_url)) {
    PrintLine(fmt::format(
        "baton fleet up: warning: the run's store {} is a local folder; instances on a cloud "
        "cannot read it (fine for a fake cloud on this machine; use oss:// or s3:// otherwise)",
        f->store_url));
  }
  if (!flags.yes) {
    if (!isatty(0)) {
      return ReportError(FailedPrecondition(
          "`baton fleet up` launches billable instances: confirm on a terminal, or pass --yes"));
    }
    if (!Confirm(f->spec.provider == "aws" ? "Launch billable EC2 instances for this run?"
                                           : "Launch billable ECS instances for this run?")) {
      PrintLine("baton fleet up: nothing launched");
      return 1;
    }
  }
  Result<std::unique_ptr<Store>> store = OpenStore(f->store_url);
  if (!store.ok()) return ReportError(store.status());
  Result<Json> doc = AgentJobDocument(f->text, f->path, f->job, f->store_url,
                                      f->spec.provider == "aws" ? "aws" : "alibaba");
  if (!doc.ok()) return ReportError(doc.status());
  (*doc)["agent"].erase("metadata_url");  // an instance asks its own cloud's service
  // The job may hold webhook tokens: on a bucket it is a private object; in a folder, a file
  // only its owner reads.
  const std::string local_root =
      f->store_url.starts_with("file://") ? f->store_url.substr(7) : f->store_url;
  Status put = IsRemoteUrl(f->store_url)
                   ? (*store)->Put(kFleetJobKey, DumpJson(*doc, 2) + "\n")
                   : Env::Default()->CreateDirs(JoinPath(local_root, "fleet"));
  if (put.ok() && !IsRemoteUrl(f->store_url)) {
    put = Env::Default()->WritePrivateFileAtomic(JoinPath(local_root, kFleetJobKey),
                                                 DumpJson(*doc, 2) + "\n");
  }
  if (!put.ok()) return ReportError(put.WithContext("uploading the agents' job"));
  if (f->spec.provider == "aliyun-ess") {
    return EssUpCmd(*f, MakeClient(f->spec).get(), store->get());
  }
  if (Status s = LiftScaleToZero(store->get()); !s.ok()) return ReportError(s);
  Result<Fleet> fl = OpenFleet(*f, /*read_only=*/false, PrintLine);
  if (!fl.ok()) return ReportError(fl.status());
  fleet::CloudProvider* p = fl->provider.get();
  {
    fleet::FleetReport so_far =
        fleet::BuildReport(f->spec, p->Instances(), p->Progress(), p->Now());
    if (f->spec.max_cost > 0 && so_far.cost >= f->spec.max_cost) {
      return ReportError(FailedPrecondition(
          "the run's bill is {} and fleet.max_cost is {}: raise max_cost to go on (checkpoints "
          "are kept in {})",
          fleet::FormatMoney(so_far.cost), fleet::FormatMoney(f->spec.max_cost), f->store_url));
    }
  }
  PrintLine(fmt::format(
      "baton fleet up: '{}' on {} ({}), policy {}; Ctrl-C leaves the instances "
      "running (`baton fleet up` again adopts them, `baton fleet down` stops "
      "them)",
      f->job.name, f->spec.provider, RegionOf(f->spec), fleet::PolicyName(f->spec.policy)));
  Result<std::unique_ptr<view::UiServer>> ui = StartUiIfAsked(flags.ui, f->store_url, f->spec);
  if (!ui.ok()) return ReportError(ui.status());
  std::atomic<bool>* stop = InstallStopSignalHandlers();
  bool over_budget = false;
  fleet::ControllerOptions co;
  co.tick_seconds = fleet::CloudTimingsOf(f->spec, 0).poll_seconds;
  // The controller's lines are the run's events too (fleet/events.json), for `baton ui`.
  fleet::EventLog events(fl->store.get(), PrintLine);
  co.print = [&events](const std::string& s) {
    PrintLine(s);
    events.Add(s, NowMs());
  };
  co.should_stop = [&] { return stop->load() || over_budget; };
  double last_status = -1e9;
  co.progress = [&](const fleet::FleetReport& r) {
    if (f->spec.max_cost > 0 && r.cost >= f->spec.max_cost) over_budget = true;
    if (p->Now() - last_status >= 60) {
      last_status = p->Now();
      fleet::RunProgress pr = p->Progress();
      PrintLine(fmt::format("[t={}] step {:.0f}/{:.0f}, cost {}", fleet::FormatHours(p->Now()),
                            pr.done, pr.total, fleet::FormatMoney(r.cost)));
    }
  };
  fleet::Controller controller(f->spec, p, co);
  Result<fleet::FleetReport> report = controller.Run();
  if (!report.ok()) {
    if (over_budget) {
      PrintLine(
          fmt::format("baton fleet up: the bill reached fleet.max_cost {}: stopping the run "
                      "(the instances checkpoint first)",
                      fleet::FormatMoney(f->spec.max_cost)));
      Status s = p->SetStoppedReason("budget");
      if (s.ok()) s = WriteScaleToZeroRequest(fl->store.get(), {"fleet", "budget", NowMs()});
      if (s.ok()) s = DrainAndDelete(p, f->spec, "budget reached");
      if (!s.ok()) return ReportError(s);
      fleet::FleetReport r =
          p->ledger().instances.empty() ? fleet::FleetReport{} : controller.Report();
      return ReportError(FailedPrecondition(
          "budget reached: the run cost {} (max_cost {}); no instance is left running; its "
          "checkpoints are in {}",
          fleet::FormatMoney(r.cost), fleet::FormatMoney(f->spec.max_cost), f->store_url));
    }
    if (stop->load()) {
      PrintLine(
          "baton fleet up: stopped watching; the instances go on. `baton fleet up` again "
          "adopts them; `baton fleet down` stops them");
      return 130;
    }
    PrintLine("baton fleet up: the controller stopped on an error; instances of the run:");
    for (const fleet::Instance& i : p->Instances()) {
      if (i.state != fleet::InstanceState::kEnded) {
        PrintLine("  " + Describe(f->spec, i, p->Now()));
      }
    }
    PrintLine("`baton fleet status` shows them, `baton fleet down` stops them");
    return ReportError(report.status());
  }
  std::fputs(fleet::ReportTable(*report).c_str(), stdout);
  std::printf("final adapter: %s/%s\n", f->store_url.c_str(),
              CheckpointDir(static_cast<int64_t>(p->Progress().total)).c_str());
  ServeUntilStopped(ui->get(), stop);
  return report->complete ? 0 : 1;
}

int Down(const FleetFlags& flags) {
  Result<FleetJob> f = LoadFleetJob(flags.job, "down");
  if (!f.ok()) return ReportError(f.status());
  if (f->spec.provider == "aliyun-ess") {
    std::unique_ptr<AliyunClient> client = MakeClient(f->spec);
    if (Status s = Preflight(client.get(), *f); !s.ok()) return ReportError(s);
    Result<std::unique_ptr<Store>> store = OpenStore(f->store_url);
    if (!store.ok()) return ReportError(store.status());
    return EssDownCmd(*f, client.get(), store->get());
  }
  Result<Fleet> fl = OpenFleet(*f, /*read_only=*/false, PrintLine);
  if (!fl.ok()) return ReportError(fl.status());
  fleet::CloudProvider* p = fl->provider.get();
  // A controller still running elsewhere (`fleet up` in another shell) sees this and launches
  // nothing more.
  Status s = WriteScaleToZeroRequest(fl->store.get(), {"fleet", "down", NowMs()});
  if (s.ok()) s = p->SetStoppedReason("down");
  if (s.ok()) {
    s = flags.force ? p->DeleteAll("fleet down --force")
                    : DrainAndDelete(p, f->spec, "fleet down: the stop grace ran out");
  }
  if (!s.ok()) return ReportError(s);
  int n = 0;
  for (const fleet::Instance& i : p->Instances()) n += i.state == fleet::InstanceState::kEnded;
  fleet::FleetReport r = fleet::BuildReport(f->spec, p->Instances(), p->Progress(), p->Now());
  std::printf(
      "baton fleet down: no instance of '%s' is running (%d in its history, billed %s); "
      "its checkpoints are in %s\n",
      f->job.name.c_str(), n, fleet::FormatMoney(r.cost).c_str(), f->store_url.c_str());
  return 0;
}

}  // namespace

void AddFleetCommand(CLI::App& root, Action& action) {
  CLI::App* cmd = root.add_subcommand(
      "fleet", "run a job on a cloud: plan, up (launch and control), status, down (stop)");
  cmd->require_subcommand(1);
  struct Sub {
    const char* name;
    const char* help;
    int (*run)(const FleetFlags&);
  };
  for (Sub sub :
       {Sub{"plan", "what `up` would launch, prices and estimated cost; changes nothing", Plan},
        Sub{"up", "launch the run and control it in the foreground (idempotent)", Up},
        Sub{"status", "instances, progress, newest checkpoint, cost so far", Status_},
        Sub{"down", "checkpoint and stop every instance of the run, then delete them", Down}}) {
    auto flags = std::make_shared<FleetFlags>();
    CLI::App* c = cmd->add_subcommand(sub.name, sub.help);
    c->add_option("job", flags->job, "job spec (YAML) with a fleet section")->required();
    if (std::string(sub.name) == "up") {
      c->add_flag("--yes,-y", flags->yes, "do not ask before launching billable instances");
      AddUiFlag(c, &flags->ui);
    }
    if (std::string(sub.name) == "down") {
      c->add_flag("--force", flags->force, "delete the instances at once, without a checkpoint");
    }
    auto run = sub.run;
    c->callback([&action, flags, run] { action = [flags, run] { return run(*flags); }; });
  }
}

}  // namespace baton::cli
