#include "fleet/optimum.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>

namespace baton::fleet {

double SolveOptimum(const OptimumProblem& p) {
  if (p.work <= 0) return 0;
  const int idle_max = p.steps - p.work;  // steps of the deadline not spent training
  if (idle_max < 0) return kNoSchedule;
  const int spots = static_cast<int>(p.spot_price.size());
  const bool on_demand = p.on_demand_price > 0;
  const int offers = spots + (on_demand ? 1 : 0);
  const double per_second = 1.0 / 3600;
  std::vector<double> rate(offers), start(offers), end(offers);
  for (int z = 0; z < offers; ++z) {
    const double price = z < spots ? p.spot_price[z] : p.on_demand_price;
    rate[z] = price * per_second * p.step;
    start[z] = price * per_second * p.step * (p.boot + 1);  // boot, then the first step
    end[z] = price * per_second * (z < spots ? p.spot_end_seconds : p.on_demand_end_seconds);
  }
  // run[z]: consecutive steps with capacity before the current one (a launch needs `boot`).
  std::vector<int> run(spots, 0);
  const int width = idle_max + 2;
  // cost[m * width + i]: the cheapest schedule at the current step boundary with i idle steps so
  // far (so progress = boundary - i) whose last step trained on offer m (m = offers: none).
  std::vector<double> cost((offers + 1) * width, kNoSchedule), next(cost.size());
  std::vector<double> any(width);  // the cheapest state of each i once its segment (if any) ended
  cost[offers * width + 0] = 0;
  double best = kNoSchedule;
  for (int c = 0; c < p.steps; ++c) {
    const int lo = std::max(0, c - p.work + 1), hi = std::min(c, idle_max);
    std::fill(next.begin(), next.end(), kNoSchedule);
    for (int i = lo; i <= hi; ++i) {
      double a = cost[offers * width + i];
      for (int m = 0; m < offers; ++m) a = std::min(a, cost[m * width + i] + end[m]);
      any[i] = a;
      next[offers * width + i + 1] = a;  // idle this step
    }
    for (int z = 0; z < offers; ++z) {
      const bool spot = z < spots;
      if (spot && !p.up[z][c]) continue;
      const bool can_continue = !(spot && p.reclaim[z][c]);
      const bool can_start = c >= p.boot && (!spot || run[z] >= p.boot);
      double* out = &next[z * width];
      const double* in = &cost[z * width];
      for (int i = lo; i <= hi; ++i) {
        double v = can_continue ? in[i] + rate[z] : kNoSchedule;
        if (can_start) v = std::min(v, any[i] + start[z]);
        out[i] = v;
      }
    }
    for (int z = 0; z < spots; ++z) run[z] = p.up[z][c] ? run[z] + 1 : 0;
    // States whose progress reached the work at boundary c + 1 are finished schedules.
    if (int i = c + 1 - p.work; i >= 0 && i <= idle_max) {
      for (int z = 0; z < offers; ++z) best = std::min(best, next[z * width + i]);
      for (int m = 0; m <= offers; ++m) next[m * width + i] = kNoSchedule;
    }
    cost.swap(next);
  }
  return best;
}

namespace {

// x as whole seconds, or -1 when it is not one (to a microsecond).
int64_t WholeSeconds(double x) {
  const double r = std::round(x);
  return std::fabs(x - r) < 1e-6 && r >= 0 && r < 9e15 ? static_cast<int64_t>(r) : -1;
}

}  // namespace

Result<HindsightOptimum> ComputeOptimum(const FleetSpec& spec, const Market& market,
                                        double deadline, double max_cells) {
  const Overheads& o = spec.overheads;
  std::vector<int> spot_offers;
  double on_demand_price = 0;
  for (int i = 0; i < static_cast<int>(spec.offers.size()); ++i) {
    const Offer& offer = spec.offers[i];
    if (offer.billing == Billing::kSpot) {
      spot_offers.push_back(i);
    } else if (on_demand_price == 0 || offer.price_per_hour < on_demand_price) {
      on_demand_price = offer.price_per_hour;
    }
  }
  const std::vector<MarketEvent> events = market.Events(0, deadline);
  struct Named {
    const char* what;
    double seconds;
  };
  std::vector<Named> durations = {{"boot + load", o.boot + o.load},
                                  {"the work", spec.work_seconds},
                                  {"the deadline", deadline}};
  for (const MarketEvent& e : events) durations.push_back({"a market event's time", e.at});
  int64_t grid = 0;
  for (const Named& d : durations) {
    const int64_t s = WholeSeconds(d.seconds);
    if (s < 0) {
      return FailedPrecondition("{} ({:g} s) is not a whole number of seconds", d.what, d.seconds);
    }
    grid = std::gcd(grid, s);
  }
  if (grid <= 0) return FailedPrecondition("the work and the deadline must be positive");
  OptimumProblem p;
  p.step = static_cast<double>(grid);
  p.steps = static_cast<int>(WholeSeconds(deadline) / grid);
  p.work = static_cast<int>(WholeSeconds(spec.work_seconds) / grid);
  p.boot = static_cast<int>(WholeSeconds(o.boot + o.load) / grid);
  const double modes = static_cast<double>(spot_offers.size()) + 2;
  const double cells = static_cast<double>(p.steps) * std::max(0, p.steps - p.work + 1) * modes;
  if (cells > max_cells) {
    return FailedPrecondition(
        "the common grid of the durations and market events is {} s: {:g} cells are more than "
        "{:g}",
        grid, cells, max_cells);
  }
  bool every_loss_noticed = true;
  p.up.assign(spot_offers.size(), std::vector<bool>(p.steps, false));
  p.reclaim.assign(spot_offers.size(), std::vector<bool>(p.steps, false));
  for (size_t z = 0; z < spot_offers.size(); ++z) {
    const int offer = spot_offers[z];
    p.spot_price.push_back(spec.offers[offer].price_per_hour);
    bool up = market.Available(offer, 0);
    size_t e = 0;
    for (int c = 0; c < p.steps; ++c) {
      // Events are on the grid: those at c * grid have happened for the whole of step c.
      for (; e < events.size() && events[e].at <= c * p.step + 1e-6; ++e) {
        const MarketEvent& ev = events[e];
        if (ev.offer != offer) continue;
        if (ev.kind == MarketEvent::Kind::kCapacityBack) {
          up = true;
          continue;
        }
        if (!ev.notice) every_loss_noticed = false;
        if (ev.kind == MarketEvent::Kind::kCapacityLost) {
          up = false;
        } else {
          p.reclaim[z][c] = true;
        }
      }
      p.up[z][c] = up;
    }
  }
  p.on_demand_price = on_demand_price;
  p.spot_end_seconds = every_loss_noticed && o.notice > 0 ? std::min(o.checkpoint, o.notice) : 0;
  p.on_demand_end_seconds = o.checkpoint;
  HindsightOptimum out;
  out.cost = SolveOptimum(p);
  out.step = p.step;
  return out;
}

}  // namespace baton::fleet
