#include "fleet/report.h"

#include <algorithm>
#include <cmath>

namespace baton::fleet {
namespace {

double CheapestOnDemand(const FleetSpec& spec) {
  double best = 0;
  for (const Offer& o : spec.offers) {
    if (o.billing == Billing::kOnDemand && (best == 0 || o.price_per_hour < best)) {
      best = o.price_per_hour;
    }
  }
  return best;
}

std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace

FleetReport BuildReport(const FleetSpec& spec, const std::vector<Instance>& instances,
                        const RunProgress& progress, double now) {
  FleetReport r;
  r.policy = PolicyName(spec.policy);
  r.complete = progress.complete;
  r.work_total = progress.total;
  double first_launch = -1, highest_work = -1, training = 0, billed = 0;
  for (const Instance& in : instances) {
    if (in.offer < 0 || in.offer >= static_cast<int>(spec.offers.size())) continue;
    const Offer& offer = spec.offers[in.offer];
    const bool alive = in.ended_at < 0;
    const double end = alive ? now : in.ended_at;
    LedgerLine line;
    line.instance = in.id;
    line.offer = offer.Name();
    line.billing = BillingName(offer.billing);
    line.zone = offer.zone;
    line.seconds = std::max(0.0, end - in.launched_at);
    line.cost = in.billed_cost >= 0 ? in.billed_cost : line.seconds / 3600 * offer.price_per_hour;
    line.end = alive ? "running" : EndReasonName(in.end_reason);
    r.cost += line.cost;
    billed += line.seconds;
    if (offer.billing == Billing::kSpot) {
      r.spot_seconds += line.seconds;
      r.spot_cost += line.cost;
    } else {
      r.on_demand_seconds += line.seconds;
      r.on_demand_cost += line.cost;
    }
    if (first_launch < 0 || in.launched_at < first_launch) first_launch = in.launched_at;
    if (in.end_reason == EndReason::kPreempted || in.end_reason == EndReason::kKilled) {
      ++r.interruptions;
    }
    if (in.end_reason == EndReason::kKilled) ++r.interruptions_without_notice;
    if (in.end_reason == EndReason::kCompleted && r.completed_at < 0) r.completed_at = end;
    // What it redid: the work it resumed from lies below what an earlier instance reached.
    if (in.start_work >= 0 && highest_work >= 0) {
      r.work_redone += std::max(0.0, highest_work - in.start_work);
    }
    highest_work = std::max(highest_work, in.last_work);
    if (in.running_at >= 0) {
      double t = end - in.running_at;
      if (progress.rate > 0 && in.start_work >= 0 && in.last_work >= in.start_work) {
        t = (in.last_work - in.start_work) / progress.rate;
      }
      training += std::clamp(t, 0.0, line.seconds);
    }
    r.ledger.push_back(std::move(line));
  }
  r.instances = static_cast<int>(r.ledger.size());
  if (r.complete && r.completed_at < 0) r.completed_at = now;
  const double finish = r.complete ? r.completed_at : now;
  r.makespan_seconds = first_launch < 0 ? 0 : std::max(0.0, finish - first_launch);
  r.overhead_seconds = std::max(0.0, billed - training);
  const double price = CheapestOnDemand(spec);
  if (progress.rate > 0 && progress.total > 0 && price > 0) {
    double seconds = progress.total / progress.rate + spec.overheads.boot + spec.overheads.load;
    r.on_demand_baseline_cost = seconds / 3600 * price;
    r.saving_fraction = 1 - r.cost / r.on_demand_baseline_cost;
  }
  return r;
}

std::string FormatHours(double seconds) {
  int64_t minutes = std::llround(std::max(0.0, seconds) / 60);
  return fmt::format("{}:{:02d}", minutes / 60, minutes % 60);
}

std::string FormatMoney(double amount) { return fmt::format("{:.2f}", amount); }

std::string TextTable(const std::vector<std::vector<std::string>>& rows, const std::string& align) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    if (row.size() > width.size()) width.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      if (i) line += "  ";
      size_t pad = width[i] - row[i].size();
      bool right = i < align.size() && align[i] == 'r';
      line += right ? std::string(pad, ' ') + row[i] : row[i] + std::string(pad, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string ReportTable(const FleetReport& r) {
  std::string out = fmt::format(
      "{}{}: {}, makespan {}, {} instance{}\n", r.scenario.empty() ? "" : r.scenario + ", ",
      r.policy, r.complete ? "complete" : "not complete", FormatHours(r.makespan_seconds),
      r.instances, r.instances == 1 ? "" : "s");
  std::vector<std::vector<std::string>> rows = {{"instance", "offer", "billed", "cost", "end"}};
  for (const LedgerLine& l : r.ledger) {
    rows.push_back({l.instance, l.offer, FormatHours(l.seconds), FormatMoney(l.cost), l.end});
  }
  rows.push_back({"spot", "", FormatHours(r.spot_seconds), FormatMoney(r.spot_cost), ""});
  rows.push_back(
      {"on-demand", "", FormatHours(r.on_demand_seconds), FormatMoney(r.on_demand_cost), ""});
  rows.push_back(
      {"total", "", FormatHours(r.spot_seconds + r.on_demand_seconds), FormatMoney(r.cost), ""});
  if (r.on_demand_baseline_cost > 0) {
    rows.push_back({"all on-demand", "(baseline)", "", FormatMoney(r.on_demand_baseline_cost),
                    fmt::format("saving {:.1f}%", 100 * r.saving_fraction)});
  }
  out += TextTable(rows, "llrrl");
  // Work is in the provider's units (steps for `baton run`, seconds for `baton sim`).
  out += fmt::format(
      "interruptions {} ({} without notice), work redone {:g} of {:g}, overhead {} (billed, "
      "not training)\n",
      r.interruptions, r.interruptions_without_notice, r.work_redone, r.work_total,
      FormatHours(r.overhead_seconds));
  return out;
}

Json ReportJson(const FleetReport& r) {
  Json ledger = Json::array();
  for (const LedgerLine& l : r.ledger) {
    ledger.push_back({{"instance", l.instance},
                      {"offer", l.offer},
                      {"billing", l.billing},
                      {"zone", l.zone},
                      {"seconds", l.seconds},
                      {"cost", l.cost},
                      {"end", l.end}});
  }
  return Json{{"scenario", r.scenario},
              {"policy", r.policy},
              {"complete", r.complete},
              {"completed_at", r.completed_at},
              {"makespan_seconds", r.makespan_seconds},
              {"cost", r.cost},
              {"spot_seconds", r.spot_seconds},
              {"on_demand_seconds", r.on_demand_seconds},
              {"spot_cost", r.spot_cost},
              {"on_demand_cost", r.on_demand_cost},
              {"instances", r.instances},
              {"interruptions", r.interruptions},
              {"interruptions_without_notice", r.interruptions_without_notice},
              {"work_redone", r.work_redone},
              {"work_total", r.work_total},
              {"overhead_seconds", r.overhead_seconds},
              {"on_demand_baseline_cost", r.on_demand_baseline_cost},
              {"saving_fraction", r.saving_fraction},
              {"ledger", ledger}};
}

Result<FleetReport> ParseReportJson(const Json& j, const std::string& source) {
  if (!j.is_object()) return Corruption("{}: want a JSON object", source);
  FleetReport r;
  BATON_ASSIGN_OR_RETURN(r.scenario, JsonString(j, "scenario", source));
  BATON_ASSIGN_OR_RETURN(r.policy, JsonString(j, "policy", source));
  BATON_ASSIGN_OR_RETURN(r.complete, JsonBool(j, "complete", source));
  for (auto [key, field] : std::initializer_list<std::pair<const char*, double*>>{
           {"completed_at", &r.completed_at},
           {"makespan_seconds", &r.makespan_seconds},
           {"cost", &r.cost},
           {"spot_seconds", &r.spot_seconds},
           {"on_demand_seconds", &r.on_demand_seconds},
           {"spot_cost", &r.spot_cost},
           {"on_demand_cost", &r.on_demand_cost},
           {"work_redone", &r.work_redone},
           {"work_total", &r.work_total},
           {"overhead_seconds", &r.overhead_seconds},
           {"on_demand_baseline_cost", &r.on_demand_baseline_cost},
           {"saving_fraction", &r.saving_fraction}}) {
    BATON_ASSIGN_OR_RETURN(*field, JsonNumber(j, key, source));
  }
  for (auto [key, field] : std::initializer_list<std::pair<const char*, int*>>{
           {"instances", &r.instances},
           {"interruptions", &r.interruptions},
           {"interruptions_without_notice", &r.interruptions_without_notice}}) {
    BATON_ASSIGN_OR_RETURN(int64_t v, JsonInt(j, key, source));
    *field = static_cast<int>(v);
  }
  if (!j.contains("ledger") || !j["ledger"].is_array()) {
    return Corruption("{}: want an array 'ledger'", source);
  }
  for (const Json& e : j["ledger"]) {
    if (!e.is_object()) return Corruption("{}: a ledger line is not an object", source);
    LedgerLine l;
    BATON_ASSIGN_OR_RETURN(l.instance, JsonString(e, "instance", source));
    BATON_ASSIGN_OR_RETURN(l.offer, JsonString(e, "offer", source));
    BATON_ASSIGN_OR_RETURN(l.billing, JsonString(e, "billing", source));
    BATON_ASSIGN_OR_RETURN(l.zone, JsonString(e, "zone", source));
    BATON_ASSIGN_OR_RETURN(l.seconds, JsonNumber(e, "seconds", source));
    BATON_ASSIGN_OR_RETURN(l.cost, JsonNumber(e, "cost", source));
    BATON_ASSIGN_OR_RETURN(l.end, JsonString(e, "end", source));
    r.ledger.push_back(std::move(l));
  }
  return r;
}

std::string ReportCsv(const std::vector<FleetReport>& reports) {
  std::string out =
      "scenario,policy,complete,completed_at,makespan_seconds,cost,spot_seconds,"
      "on_demand_seconds,spot_cost,on_demand_cost,instances,interruptions,"
      "interruptions_without_notice,work_redone,work_total,overhead_seconds,"
      "on_demand_baseline_cost,saving_fraction\n";
  for (const FleetReport& r : reports) {
    out += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
                       CsvField(r.scenario), CsvField(r.policy), r.complete ? "true" : "false",
                       r.completed_at, r.makespan_seconds, r.cost, r.spot_seconds,
                       r.on_demand_seconds, r.spot_cost, r.on_demand_cost, r.instances,
                       r.interruptions, r.interruptions_without_notice, r.work_redone, r.work_total,
                       r.overhead_seconds, r.on_demand_baseline_cost, r.saving_fraction);
  }
  return out;
}

}  // namespace baton::fleet
