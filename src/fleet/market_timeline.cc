#include "fleet/market_timeline.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace baton::fleet {

bool Timeline::Pull() {
  std::vector<RawEvent> chunk;
  if (source_done_ || !source_->Next(&chunk)) {
    source_done_ = true;
    return false;
  }
  for (RawEvent& e : chunk) {
    e.at -= offset_;
    pending_.push_back(e);
  }
  return true;
}

bool Timeline::Fill() {
  while (pending_.empty() && Pull()) {
  }
  return !pending_.empty();
}

bool Timeline::ProcessInstant() {
  if (!Fill()) return false;
  // Every raw event of the first instant must be at hand: a chunk may end at the instant the
  // next one begins (a repeating outage that ends where the next period's starts).
  while (pending_.back().at <= pending_.front().at && Pull()) {
  }
  const double at = pending_.front().at;
  const bool was_up = outages_ == 0;
  bool loss_notice = true, saw_begin = false;
  std::vector<bool> reclaims;  // their notice flags
  while (!pending_.empty() && pending_.front().at == at) {
    const RawEvent e = pending_.front();
    pending_.pop_front();
    switch (e.kind) {
      case RawEvent::Kind::kOutageBegin:
        ++outages_;
        if (!saw_begin) loss_notice = e.notice;
        saw_begin = true;
        break;
      case RawEvent::Kind::kOutageEnd:
        outages_ = std::max(0, outages_ - 1);
        break;
      case RawEvent::Kind::kReclaim:
        reclaims.push_back(e.notice);
        break;
    }
  }
  const bool up = outages_ == 0;
  if (was_up != up) {
    events_.push_back({at, up ? MarketEvent::Kind::kCapacityBack : MarketEvent::Kind::kCapacityLost,
                       up ? true : loss_notice});
    changes_.emplace_back(at, up);
  }
  if (up) {
    for (bool notice : reclaims) events_.push_back({at, MarketEvent::Kind::kReclaim, notice});
  }
  return true;
}

void Timeline::ExtendTo(double t) {
  while (Fill() && pending_.front().at <= t) ProcessInstant();
}

bool Timeline::Available(double t) {
  ExtendTo(t);
  auto it =
      std::upper_bound(changes_.begin(), changes_.end(), t,
                       [](double v, const std::pair<double, bool>& c) { return v < c.first; });
  return it == changes_.begin() ? true : std::prev(it)->second;
}

double Timeline::NextAfter(double t) {
  ExtendTo(t);
  // Every known event is at or before t now, except those folded past it below.
  auto it = std::upper_bound(events_.begin(), events_.end(), t,
                             [](double v, const ZoneEvent& e) { return v < e.at; });
  if (it != events_.end()) return it->at;
  while (Fill() && pending_.front().at <= t + kHorizon) {
    size_t before = events_.size();
    ProcessInstant();
    if (events_.size() > before) return events_[before].at;
  }
  return std::numeric_limits<double>::infinity();
}

void Timeline::Collect(double from, double to, std::vector<ZoneEvent>* out) {
  ExtendTo(to);
  auto it = std::upper_bound(events_.begin(), events_.end(), from,
                             [](double v, const ZoneEvent& e) { return v < e.at; });
  for (; it != events_.end() && it->at <= to; ++it) out->push_back(*it);
}

namespace {

class ScriptedSource : public EventSource {
 public:
  ScriptedSource(std::vector<RawEvent> events, double period)
      : events_(std::move(events)), period_(period) {}

  bool Next(std::vector<RawEvent>* out) override {
    if (events_.empty() || (std::isinf(period_) && k_ > 0)) return false;
    double base = std::isinf(period_) ? 0 : static_cast<double>(k_) * period_;
    for (RawEvent e : events_) {
      e.at += base;
      out->push_back(e);
    }
    ++k_;
    return true;
  }

 private:
  std::vector<RawEvent> events_;
  double period_;
  int64_t k_ = 0;
};

class RandomSource : public EventSource {
 public:
  RandomSource(const RandomMarketParams& p, uint64_t seed) : p_(p), rng_(seed) {}

  bool Next(std::vector<RawEvent>* out) override {
    double up = Exponential(p_.mean_up);
    if (p_.reclaims_per_second > 0) {
      for (double r = t_ + Exponential(1 / p_.reclaims_per_second); r < t_ + up;
           r += Exponential(1 / p_.reclaims_per_second)) {
        out->push_back({r, RawEvent::Kind::kReclaim, Uniform() >= p_.no_notice_fraction});
      }
    }
    bool notice = Uniform() >= p_.no_notice_fraction;
    double down = Exponential(p_.mean_down);
    out->push_back({t_ + up, RawEvent::Kind::kOutageBegin, notice});
    out->push_back({t_ + up + down, RawEvent::Kind::kOutageEnd, true});
    t_ += up + down;
    return true;
  }

 private:
  // [0, 1) from the top 53 bits of one raw output: the same on every standard library, unlike
  // std::uniform_real_distribution, whose algorithm is unspecified.
  double Uniform() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }
  double Exponential(double mean) { return -std::log1p(-Uniform()) * mean; }

  RandomMarketParams p_;
  std::mt19937_64 rng_;
  double t_ = 0;  // start of the next capacity period
};

class TraceSource : public EventSource {
 public:
  TraceSource(std::vector<bool> up, double gap, double start, bool notice)
      : up_(std::move(up)), gap_(gap), start_(start), notice_(notice) {
    const size_t n = up_.size();
    for (size_t i = 0; i < n; ++i) {
      if (up_[i] != up_[(i + n - 1) % n]) transitions_.push_back(i);
    }
    period_ = static_cast<int64_t>(std::floor(start_ / (gap_ * static_cast<double>(n))));
  }

  bool Next(std::vector<RawEvent>* out) override {
    const int64_t n = static_cast<int64_t>(up_.size());
    if (first_) {
      first_ = false;
      int64_t tick = static_cast<int64_t>(std::floor(start_ / gap_)) % n;
      if (!up_[tick]) out->push_back({0, RawEvent::Kind::kOutageBegin, notice_});
    }
    if (transitions_.empty()) return !out->empty();
    // One period of the trace per chunk; the first one only from `start` on.
    const size_t before = out->size();
    do {
      for (size_t i : transitions_) {
        double at = static_cast<double>(period_ * n + static_cast<int64_t>(i)) * gap_;
        if (at <= start_) continue;  // the initial state above already holds it
        out->push_back({at - start_,
                        up_[i] ? RawEvent::Kind::kOutageEnd : RawEvent::Kind::kOutageBegin,
                        notice_});
      }
      ++period_;
    } while (out->size() == before);
    return true;
  }

 private:
  std::vector<bool> up_;
  double gap_, start_;
  bool notice_;
  std::vector<size_t> transitions_;  // ticks whose state differs from the tick before
  int64_t period_ = 0;               // the trace period the next chunk covers
  bool first_ = true;
};

}  // namespace

std::unique_ptr<EventSource> MakeScriptedSource(std::vector<RawEvent> events, double period) {
  std::stable_sort(events.begin(), events.end(),
                   [](const RawEvent& a, const RawEvent& b) { return a.at < b.at; });
  return std::make_unique<ScriptedSource>(std::move(events), period);
}

std::unique_ptr<EventSource> MakeRandomSource(const RandomMarketParams& params, uint64_t seed) {
  return std::make_unique<RandomSource>(params, seed);
}

std::unique_ptr<EventSource> MakeTraceSource(std::vector<bool> up, double gap, double start,
                                             bool notice) {
  return std::make_unique<TraceSource>(std::move(up), gap, start, notice);
}

}  // namespace baton::fleet
