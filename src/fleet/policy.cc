#include "fleet/policy.h"

#include <algorithm>
#include <tuple>

namespace baton::fleet {
namespace {

// The cheapest offer of `billing` with capacity, or -1. Among equally cheap ones the current
// offer wins: moving between equal prices would cost a switch and save nothing.
int Cheapest(const FleetSpec& spec, const PolicyInput& in, Billing billing) {
  int best = -1;
  for (int i = 0; i < static_cast<int>(spec.offers.size()); ++i) {
    const Offer& o = spec.offers[i];
    bool capacity = i < static_cast<int>(in.capacity.size()) && in.capacity[i];
    if (o.billing != billing || !capacity) continue;
    if (best < 0 || o.price_per_hour < spec.offers[best].price_per_hour ||
        (o.price_per_hour == spec.offers[best].price_per_hour && i == in.current_offer)) {
      best = i;
    }
  }
  return best;
}

class SpotFirst : public Policy {
 public:
  explicit SpotFirst(const FleetSpec& spec) : spec_(spec) {}
  int Choose(const PolicyInput& in) override {
    int spot = Cheapest(spec_, in, Billing::kSpot);
    return spot >= 0 ? spot : Cheapest(spec_, in, Billing::kOnDemand);
  }

 private:
  FleetSpec spec_;
};

class SpotOnly : public Policy {
 public:
  explicit SpotOnly(const FleetSpec& spec) : spec_(spec) {}
  int Choose(const PolicyInput& in) override { return Cheapest(spec_, in, Billing::kSpot); }

 private:
  FleetSpec spec_;
};

class OnDemand : public Policy {
 public:
  explicit OnDemand(const FleetSpec& spec) : spec_(spec) {}
  int Choose(const PolicyInput& in) override { return Cheapest(spec_, in, Billing::kOnDemand); }

 private:
  FleetSpec spec_;
};

// Uniform Progress: the run should be at total * now / deadline by now. All quantities below
// are in seconds of one instance's compute, so progress and switch delays compare directly.
class Deadline : public Policy {
 public:
  Deadline(const FleetSpec& spec, double switch_delay) : spec_(spec), switch_delay_(switch_delay) {}

  int Choose(const PolicyInput& in) override {
    int spot = Cheapest(spec_, in, Billing::kSpot);
    int on_demand = Cheapest(spec_, in, Billing::kOnDemand);
    // Without the run's size and speed there is no line to follow yet: act as spot-first.
    if (in.rate <= 0 || in.total <= 0 || spec_.deadline_seconds <= 0) {
      return spot >= 0 ? spot : on_demand;
    }
    const double left = std::max(0.0, in.total - in.done) / in.rate;
    const double slack = spec_.deadline_seconds - in.now - left;
    // Safety net: one more interruption would cost a switch delay the deadline cannot spare.
    if (slack <= switch_delay_) return on_demand;
    const double ahead = (in.done - in.total * in.now / spec_.deadline_seconds) / in.rate;
    const bool on_on_demand = in.current_offer >= 0 &&
                              in.current_offer < static_cast<int>(spec_.offers.size()) &&
                              spec_.offers[in.current_offer].billing == Billing::kOnDemand;
    if (on_on_demand) {
      // Hysteresis: leaving on-demand costs a switch, and falling behind right after would
      // bring the run back; only go when the lead pays for both moves.
      return spot >= 0 && ahead >= 2 * switch_delay_ ? spot : on_demand;
    }
    if (spot >= 0) return spot;
    return ahead < 0 ? on_demand : -1;
  }

 private:
  FleetSpec spec_;
  double switch_delay_;
};

class Adaptive : public Policy {
 public:
  Adaptive(const FleetSpec& spec, double switch_delay)
      : spec_(spec), switch_delay_(switch_delay), seen_(spec.offers.size()) {}

  int Choose(const PolicyInput& in) override {
    Observe(in);
    const int on_demand = Cheapest(spec_, in, Billing::kOnDemand);
    const int current = in.current_offer;
    const bool current_spot = current >= 0 && current < static_cast<int>(spec_.offers.size()) &&
                              spec_.offers[current].billing == Billing::kSpot &&
                              HasCapacity(in, current);
    const int spot = current_spot ? current : LongestUp(in);
    if (in.rate <= 0 || in.total <= 0 || spec_.deadline_seconds <= 0) {
      return spot >= 0 ? spot : on_demand;
    }
    const double left = std::max(0.0, in.total - in.done) / in.rate;
    const double slack = spec_.deadline_seconds - in.now - left;
    if (slack <= switch_delay_) return on_demand;
    const bool on_on_demand = current >= 0 && current < static_cast<int>(spec_.offers.size()) &&
                              spec_.offers[current].billing == Billing::kOnDemand;
    if (on_on_demand) {
      return spot >= 0 && slack >= spec_.adaptive.return_slack ? spot : on_demand;
    }
    if (spot >= 0) return spot;
    const double ahead = (in.done - in.total * in.now / spec_.deadline_seconds) / in.rate;
    const bool wait = slack > spec_.adaptive.wait_slack && (!spec_.adaptive.line || ahead >= 0);
    return wait ? -1 : on_demand;
  }

 private:
  struct Seen {
    double up_since = -1;  // start of the capacity period in progress (-1: none)
    double up_total = 0;   // length of the periods that ended
    int periods = 0;
  };

  static bool HasCapacity(const PolicyInput& in, int i) {
    return i < static_cast<int>(in.capacity.size()) && in.capacity[i];
  }

  void Observe(const PolicyInput& in) {
    for (int i = 0; i < static_cast<int>(spec_.offers.size()); ++i) {
      Seen& s = seen_[i];
      const bool up = HasCapacity(in, i);
      if (up && s.up_since < 0) s.up_since = in.now;
      if (!up && s.up_since >= 0) {
        s.up_total += in.now - s.up_since;
        ++s.periods;
        s.up_since = -1;
      }
    }
  }

  int LongestUp(const PolicyInput& in) const {
    int best = -1;
    auto key = [&](int i) {
      const Seen& s = seen_[i];
      return std::make_tuple(in.now - s.up_since, s.periods ? s.up_total / s.periods : 0.0,
                             -spec_.offers[i].price_per_hour);
    };
    for (int i = 0; i < static_cast<int>(spec_.offers.size()); ++i) {
      if (spec_.offers[i].billing != Billing::kSpot || !HasCapacity(in, i)) continue;
      if (best < 0 || key(i) > key(best)) best = i;
    }
    return best;
  }

  FleetSpec spec_;
  double switch_delay_;
  std::vector<Seen> seen_;
};

}  // namespace

std::unique_ptr<Policy> MakePolicy(const FleetSpec& spec, double switch_delay) {
  switch (spec.policy) {
    case PolicyKind::kSpotFirst:
      return std::make_unique<SpotFirst>(spec);
    case PolicyKind::kSpotOnly:
      return std::make_unique<SpotOnly>(spec);
    case PolicyKind::kOnDemand:
      return std::make_unique<OnDemand>(spec);
    case PolicyKind::kDeadline:
      return std::make_unique<Deadline>(spec, switch_delay);
    case PolicyKind::kAdaptive:
      return std::make_unique<Adaptive>(spec, switch_delay);
  }
  return std::make_unique<SpotFirst>(spec);
}

}  // namespace baton::fleet
