#include "fleet/market.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <regex>

#include "base/env.h"
#include "fleet/sim_data.h"
#include "test_util.h"

namespace baton::fleet {
namespace {

constexpr char kTraceDir[] = "data/spot-traces/availability/1-node/aws-02-15-2023";

FleetSpec SpecWith(const std::string& market_json, const std::string& offers_json) {
  Result<SpecNode> fleet = SpecNode::Parse(R"({"policy": "spot-first", "offers": )" + offers_json +
                                               R"(, "market": )" + market_json + "}",
                                           "demo.yaml", "fleet");
  if (!fleet.ok()) {
    ADD_FAILURE() << fleet.status().ToString();
    return FleetSpec{};
  }
  Result<FleetSpec> spec = ParseFleetSpec(*fleet);
  EXPECT_TRUE(spec.ok()) << spec.status().ToString();
  return spec.ok() ? *spec : FleetSpec{};
}

const char kTwoZones[] = R"([
  {"instance_type": "a", "zones": ["z1", "z2"], "spot": 1, "on_demand": 3},
  {"instance_type": "b", "zone": "z1", "spot": 1.5}])";
// Offers after sorting: 0 a@z1/spot, 1 a@z2/spot, 2 b@z1/spot, 3 a@z1/od, 4 a@z2/od.

// `text` as a regular expression that matches it literally.
std::string RegexQuote(const std::string& text) {
  return std::regex_replace(text, std::regex(R"([.^$|()\[\]{}*+?\\])"), R"(\$&)");
}

std::unique_ptr<Market> Make(const FleetSpec& spec, const MarketOptions& o = {}) {
  Result<std::unique_ptr<Market>> m = MakeMarket(spec, BATON_SOURCE_DIR "/examples", o);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return m.ok() ? std::move(*m) : nullptr;
}

// Walks the market from event to event and checks that its three views agree: every event
// NextEventAfter names is reported by Events at exactly that time, nothing is reported in
// between, and Available changes only where a lost/back event of that offer says it does.
void ExpectConsistent(const Market& m, int offers, double horizon, int* events_seen) {
  double t = 0;
  *events_seen = 0;
  while (true) {
    double next = m.NextEventAfter(t);
    ASSERT_GT(next, t);
    if (next > horizon) break;
    EXPECT_TRUE(m.Events(t, std::nextafter(next, t)).empty()) << "between " << t << " and " << next;
    std::vector<MarketEvent> evs = m.Events(t, next);
    ASSERT_FALSE(evs.empty()) << "nothing at " << next;
    for (size_t i = 0; i < evs.size(); ++i) {
      EXPECT_EQ(evs[i].at, next);
      if (i) {
        EXPECT_LE(evs[i - 1].offer, evs[i].offer);
      }
    }
    for (int o = 0; o < offers; ++o) {
      bool before = m.Available(o, (t + next) / 2), after = m.Available(o, next);
      EXPECT_EQ(before, m.Available(o, t)) << "offer " << o << " changed before " << next;
      bool lost = false, back = false;
      for (const MarketEvent& e : evs) {
        if (e.offer != o) continue;
        lost |= e.kind == MarketEvent::Kind::kCapacityLost;
        back |= e.kind == MarketEvent::Kind::kCapacityBack;
        if (e.kind == MarketEvent::Kind::kReclaim) {
          EXPECT_TRUE(after) << "reclaim without capacity";
        }
      }
      EXPECT_EQ(lost, before && !after) << "offer " << o << " at " << next;
      EXPECT_EQ(back, !before && after) << "offer " << o << " at " << next;
    }
    *events_seen += static_cast<int>(evs.size());
    t = next;
  }
}

TEST(Market, AlwaysHasCapacityAndNoEvents) {
  FleetSpec spec = SpecWith("null", kTwoZones);
  std::unique_ptr<Market> m = Make(spec);
  for (int o = 0; o < 5; ++o) EXPECT_TRUE(m->Available(o, 1e6));
  EXPECT_FALSE(m->Available(5, 0));  // no such offer
  EXPECT_TRUE(m->Events(0, 1e9).empty());
  EXPECT_TRUE(std::isinf(m->NextEventAfter(0)));
}

TEST(Market, ScriptedEventsApplyToEverySpotOfferOfTheZoneAndRepeat) {
  FleetSpec spec = SpecWith(R"({"kind": "scripted", "repeat_minutes": 90, "events": [
      {"at_minutes": 60, "zone": "z1", "event": "outage", "minutes": 30},
      {"at_minutes": 20, "zone": "z2", "event": "reclaim", "notice": false},
      {"at_minutes": 70, "zone": "z1", "event": "reclaim"}]})",
                            kTwoZones);
  std::unique_ptr<Market> m = Make(spec);
  EXPECT_TRUE(m->Available(0, 3599));
  EXPECT_FALSE(m->Available(0, 3600));         // an event at t has happened at t
  EXPECT_FALSE(m->Available(2, 3600));         // the other instance type in z1 too
  EXPECT_TRUE(m->Available(1, 3600));          // z2 keeps its capacity
  EXPECT_TRUE(m->Available(3, 3600));          // on-demand always
  EXPECT_TRUE(m->Available(0, 5400));          // back at 90 minutes
  EXPECT_FALSE(m->Available(0, 5400 + 3600));  // and out again one period later
  std::vector<MarketEvent> evs = m->Events(0, 5400);
  // 20 min: z2 reclaim (no notice); 60: z1 lost (offers 0 and 2); the 70-minute reclaim falls
  // inside the outage and is dropped; 90: back (0 and 2).
  ASSERT_EQ(evs.size(), 5u);
  EXPECT_EQ(evs[0].at, 1200);
  EXPECT_EQ(evs[0].offer, 1);
  EXPECT_EQ(evs[0].kind, MarketEvent::Kind::kReclaim);
  EXPECT_FALSE(evs[0].notice);
  EXPECT_EQ(evs[1].offer, 0);
  EXPECT_EQ(evs[1].kind, MarketEvent::Kind::kCapacityLost);
  EXPECT_TRUE(evs[1].notice);
  EXPECT_EQ(evs[2].offer, 2);
  EXPECT_EQ(evs[3].kind, MarketEvent::Kind::kCapacityBack);
  EXPECT_EQ(evs[3].at, 5400);
  EXPECT_EQ(m->NextEventAfter(5400), 5400 + 1200);
  int seen = 0;
  ExpectConsistent(*m, 5, 50 * 3600, &seen);
  EXPECT_GT(seen, 100);
}

TEST(Market, OverlappingAndAdjacentOutagesAreOne) {
  FleetSpec spec = SpecWith(R"({"kind": "scripted", "repeat_minutes": 60, "events": [
      {"at_minutes": 0, "zone": "z1", "event": "outage", "minutes": 20},
      {"at_minutes": 10, "zone": "z1", "event": "outage", "minutes": 20},
      {"at_minutes": 40, "zone": "z1", "event": "outage", "minutes": 20}]})",
                            kTwoZones);
  std::unique_ptr<Market> m = Make(spec);
  EXPECT_FALSE(m->Available(0, 0));  // an outage from the start
  EXPECT_TRUE(m->Available(0, 30 * 60));
  EXPECT_FALSE(m->Available(0, 40 * 60));
  // The 40-60 outage runs into the next period's 0-30 one: no back/lost pair at 60.
  std::vector<MarketEvent> evs = m->Events(0, 3 * 3600);
  std::vector<double> lost, back;
  for (const MarketEvent& e : evs) {
    if (e.offer != 0) continue;
    (e.kind == MarketEvent::Kind::kCapacityLost ? lost : back).push_back(e.at / 60);
  }
  EXPECT_EQ(back, (std::vector<double>{30, 90, 150}));
  EXPECT_EQ(lost, (std::vector<double>{40, 100, 160}));
  int seen = 0;
  ExpectConsistent(*m, 5, 20 * 3600, &seen);
}

TEST(Market, ScriptedErrorsNameTheKey) {
  struct Case {
    std::string market, want;
  } cases[] = {
      {R"({"kind": "scripted", "events": [{"at_minutes": 1, "zone": "nope", "event": "reclaim"}]})",
       "fleet.market.events[0].zone: no spot offer in zone 'nope'"},
      {R"({"kind": "scripted", "events": [{"at_minutes": 1, "zone": "z1", "event": "flood"}]})",
       "fleet.market.events[0].event: expected outage or reclaim"},
      {R"({"kind": "scripted", "events": [{"at_minutes": 1, "zone": "z1", "event": "outage"}]})",
       "fleet.market.events[0].minutes: an outage needs its length"},
      {R"({"kind": "scripted", "events": [{"zone": "z1", "event": "reclaim"}]})",
       "fleet.market.events[0].at_minutes: required key is missing"},
      {R"({"kind": "scripted", "repeat_minutes": 60, "events": [
          {"at_minutes": 50, "zone": "z1", "event": "outage", "minutes": 20}]})",
       "fleet.market.events[0].minutes: the outage must end inside one period"},
      {R"({"kind": "scripted", "repeat_minutes": 60, "events": [
          {"at_hours": 1, "zone": "z1", "event": "reclaim"}]})",
       "fleet.market.events[0].at_hours: must be inside one period"},
      {R"({"kind": "scripted", "repeat_seconds": 10, "events": []})",
       "fleet.market.repeat_seconds: must be at least 1 minute"},
      {R"({"kind": "scripted", "events": [{"at_minutes": 1, "zone": "z1", "event": "reclaim",
          "when": 2}]})",
       "fleet.market.events[0].when: unknown key"},
      {R"({"kind": "scripted", "events": [{"at_minutes": 1, "at_step": 4, "zone": "z1",
          "event": "reclaim"}]})",
       "fleet.market.events[0].at_step: give the event's time or its step, not both"},
      {R"({"kind": "scripted", "events": [{"at_step": 0, "zone": "z1", "event": "reclaim"}]})",
       "fleet.market.events[0].at_step: must be a positive step"},
      {R"({"kind": "scripted", "events": [{"at_step": 3, "zone": "z1", "event": "reclaim",
          "steps": 2}]})",
       "fleet.market.events[0].steps: a reclaim takes an instance at once: no length"},
      {R"({"kind": "scripted", "events": [{"at_step": 3, "zone": "z1", "event": "outage",
          "minutes": 5, "steps": 2}]})",
       "fleet.market.events[0].steps: give the outage's length once"},
      {R"({"kind": "scripted", "events": [{"at_step": 3, "zone": "z1", "event": "outage",
          "steps": -2}]})",
       "fleet.market.events[0].steps: must be positive"},
      {R"({"kind": "scripted", "repeat_minutes": 60, "events": [
          {"at_minutes": 5, "zone": "z1", "event": "outage", "steps": 10}]})",
       "fleet.market.events[0].steps: a run reaches a step once: not with repeat_minutes"},
      {R"({"kind": "weather"})", "fleet.market.kind: expected always, scripted"},
      {R"({"kind": "random", "mean_up_hours": 1})",
       "fleet.market.mean_down_hours: expected a positive duration"},
      {R"({"kind": "random", "mean_up_hours": 1, "mean_down_hours": 1, "no_notice_fraction": 2})",
       "fleet.market.no_notice_fraction: must be between 0 and 1"},
      {R"({"kind": "trace", "zones": {"z1": "no-such-file.json"}})", "fleet.market.zones.z1: "},
      {R"({"kind": "trace", "zones": {"z3": "x.json"}})",
       "fleet.market.zones.z3: no spot offer in zone 'z3'"},
  };
  for (const Case& c : cases) {
    FleetSpec spec = SpecWith(c.market, kTwoZones);
    Result<std::unique_ptr<Market>> m = MakeMarket(spec, "");
    ASSERT_FALSE(m.ok()) << c.market;
    // "demo.yaml:<line>:<col>: <want>"
    EXPECT_TRUE(std::regex_search(m.status().message(),
                                  std::regex("^demo\\.yaml:\\d+:\\d+: " + RegexQuote(c.want))))
        << "got: " << m.status().message() << "\nwant: " << c.want;
  }
}

// Events keyed to progress: what each report pins, where, and that the market stays one
// consistent timeline that a replay of the reports rebuilds.
TEST(Market, StepKeyedEventsPinToTheReportThatReachesThem) {
  FleetSpec spec = SpecWith(R"({"kind": "scripted", "events": [
      {"at_step": 5, "zone": "z1", "event": "reclaim", "notice": false},
      {"at_step": 10, "zone": "z2", "event": "outage", "minutes": 30},
      {"at_minutes": 60, "zone": "z1", "event": "outage", "steps": 20}]})",
                            kTwoZones);
  std::unique_ptr<Market> m = Make(spec);
  std::vector<std::pair<double, double>> changes;  // the reports that changed the market
  auto report = [&](double t, double done) {
    bool changed = m->ReportProgress(t, done);
    if (changed) changes.emplace_back(t, done);
    return changed;
  };
  // Before any report only the timed begin is known, and its end is not: no capacity after it.
  EXPECT_EQ(m->NextEventAfter(0), 3600);
  EXPECT_FALSE(m->Available(0, 1e6));
  EXPECT_TRUE(m->Events(0, 3599).empty());

  EXPECT_FALSE(report(100, 4));
  EXPECT_TRUE(report(200, 7));  // step 5 passed: the reclaim is pinned at this report
  std::vector<MarketEvent> evs = m->Events(100, 200);
  ASSERT_EQ(evs.size(), 2u);  // both spot offers of z1
  for (const MarketEvent& e : evs) {
    EXPECT_EQ(e.at, 200);
    EXPECT_EQ(e.kind, MarketEvent::Kind::kReclaim);
    EXPECT_FALSE(e.notice);
  }
  EXPECT_FALSE(report(250, 7));  // an event happens once
  EXPECT_TRUE(report(300, 12));  // z2's outage: from this report, for 30 minutes
  EXPECT_TRUE(m->Available(1, 299));
  EXPECT_FALSE(m->Available(1, 300));
  EXPECT_TRUE(m->Available(1, 300 + 1800));
  EXPECT_EQ(m->NextEventAfter(300), 300 + 1800);

  // z1's timed outage lasts 20 steps from the progress first reported after it began (31).
  EXPECT_FALSE(report(3500, 30));
  EXPECT_TRUE(report(3700, 31));
  EXPECT_FALSE(m->Available(0, 3700));
  EXPECT_FALSE(report(3800, 50));
  EXPECT_FALSE(m->Available(0, 3800));
  EXPECT_TRUE(report(3900, 51));
  EXPECT_FALSE(m->Available(0, 3899));
  EXPECT_TRUE(m->Available(0, 3900));
  evs = m->Events(3800, 3900);
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_EQ(evs[0].kind, MarketEvent::Kind::kCapacityBack);
  EXPECT_TRUE(std::isinf(m->NextEventAfter(3900)));
  int seen = 0;
  ExpectConsistent(*m, 5, 10000, &seen);
  EXPECT_EQ(seen, 2 + 1 + 1 + 2 + 2);  // z1 reclaim, z2 lost and back, z1 lost and back

  // A restarted controller replays the reports that changed the market and gets it back.
  std::unique_ptr<Market> again = Make(spec);
  for (const auto& [t, done] : changes) EXPECT_TRUE(again->ReportProgress(t, done));
  std::vector<MarketEvent> a = m->Events(0, 1e5), b = again->Events(0, 1e5);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].at, b[i].at);
    EXPECT_EQ(a[i].offer, b[i].offer);
    EXPECT_EQ(a[i].kind, b[i].kind);
  }
}

TEST(Market, AnOutageOfStepsCountsFromTheProgressAtItsBegin) {
  // Begun and ended by steps: it lasts until the run made 10 steps more than when it began,
  // whichever step the report that began it saw (a fast run may be past at_step by then).
  FleetSpec spec = SpecWith(R"({"kind": "scripted", "events": [
      {"at_step": 20, "zone": "z1", "event": "outage", "steps": 10}]})",
                            kTwoZones);
  std::unique_ptr<Market> m = Make(spec);
  EXPECT_TRUE(m->ReportProgress(60, 24));
  EXPECT_FALSE(m->Available(0, 60));
  EXPECT_FALSE(m->ReportProgress(70, 33));
  EXPECT_TRUE(m->ReportProgress(80, 34));
  EXPECT_TRUE(m->Available(0, 80));
  EXPECT_TRUE(m->Available(1, 70));  // z2 was never out
}

TEST(Market, StepKeysNeedAProviderThatCountsSteps) {
  FleetSpec spec = SpecWith(R"({"kind": "scripted", "events": [
      {"at_minutes": 5, "zone": "z1", "event": "reclaim"},
      {"at_minutes": 9, "zone": "z1", "event": "outage", "steps": 10}]})",
                            kTwoZones);
  MarketOptions sim;
  sim.step_keys = false;
  Result<std::unique_ptr<Market>> m = MakeMarket(spec, "", sim);
  ASSERT_FALSE(m.ok());
  EXPECT_TRUE(std::regex_search(
      m.status().message(),
      std::regex(R"(^demo\.yaml:\d+:\d+: fleet\.market\.events\[1\]\.steps: the sim provider )"
                 R"(counts work in seconds)")))
      << m.status().message();
}

const char kRandom[] = R"({"kind": "random", "seed": 7, "mean_up_hours": 4, "mean_down_hours": 0.5,
                           "reclaims_per_hour": 0.1, "no_notice_fraction": 0.25})";

TEST(Market, RandomIsReproducibleAndConsistent) {
  FleetSpec spec = SpecWith(kRandom, kTwoZones);
  std::unique_ptr<Market> a = Make(spec), b = Make(spec);
  std::vector<MarketEvent> ea = a->Events(0, 2000 * 3600.0), eb = b->Events(0, 2000 * 3600.0);
  ASSERT_EQ(ea.size(), eb.size());
  for (size_t i = 0; i < ea.size(); ++i) {
    EXPECT_EQ(ea[i].at, eb[i].at);
    EXPECT_EQ(ea[i].offer, eb[i].offer);
    EXPECT_EQ(ea[i].kind, eb[i].kind);
    EXPECT_EQ(ea[i].notice, eb[i].notice);
  }
  // Means close to the spec's over ~440 cycles per zone, and some events without notice.
  double up = 0, down = 0, last = 0;
  int ups = 0, downs = 0, reclaims = 0, no_notice = 0;
  for (const MarketEvent& e : ea) {
    if (e.offer != 1) continue;  // zone z2 only
    if (e.kind == MarketEvent::Kind::kCapacityLost) up += e.at - last, ++ups, last = e.at;
    if (e.kind == MarketEvent::Kind::kCapacityBack) down += e.at - last, ++downs, last = e.at;
    if (e.kind == MarketEvent::Kind::kReclaim) ++reclaims;
    if (e.kind != MarketEvent::Kind::kCapacityBack && !e.notice) ++no_notice;
  }
  EXPECT_NEAR(up / ups / 3600, 4, 0.6);
  EXPECT_NEAR(down / downs / 3600, 0.5, 0.08);
  EXPECT_NEAR(reclaims, 0.1 * 2000 * 4 / 4.5, 60);
  EXPECT_GT(no_notice, 0);
  int seen = 0;
  ExpectConsistent(*a, 5, 300 * 3600, &seen);
  EXPECT_GT(seen, 50);
}

TEST(Market, RandomSeedAndZonesAreIndependent) {
  FleetSpec spec = SpecWith(kRandom, kTwoZones);
  Json other = spec.market.ToJson();
  other["seed"] = 8;
  FleetSpec reseeded = SpecWith(other.dump(), kTwoZones);
  // The same market with z2 dropped: z1's stream must not change.
  FleetSpec fewer =
      SpecWith(kRandom, R"([{"instance_type": "a", "zone": "z1", "spot": 1, "on_demand": 3}])");
  std::unique_ptr<Market> m = Make(spec), r = Make(reseeded), f = Make(fewer);
  auto first_loss = [](const Market& mk, int offer) {
    for (const MarketEvent& e : mk.Events(0, 1e7)) {
      if (e.offer == offer && e.kind == MarketEvent::Kind::kCapacityLost) return e.at;
    }
    return -1.0;
  };
  EXPECT_NE(first_loss(*m, 0), first_loss(*r, 0));
  EXPECT_NE(first_loss(*m, 0), first_loss(*m, 1));  // zones differ
  EXPECT_EQ(first_loss(*m, 0), first_loss(*f, 0));
}

std::string WriteTrace(const testing::ScopedTempDir& tmp, const std::string& name,
                       const std::string& json) {
  std::string path = tmp.Sub(name);
  std::ofstream(path) << json;
  return path;
}

const char kTinyOffers[] =
    R"([{"instance_type": "a", "zones": ["z1", "z2"], "spot": 1, "on_demand": 2}])";

TEST(Market, TraceCountsAboveZeroAreCapacityAndWrapAround) {
  // Ticks of 10 s: up, up, down, down(2 instances gone), up -> lost at 20, back at 40; tick 0
  // follows tick 4 (both up): no event at 50; lost again at 70.
  testing::ScopedTempDir tmp;
  std::string path = WriteTrace(tmp, "tiny.json", R"({"metadata": {"gap_seconds": 10},
                                                 "data": [1, 3, 0, 0, 2]})");
  FleetSpec spec =
      SpecWith(R"({"kind": "trace", "zones": {"z1": ")" + path + R"(", "z2": ")" + path + R"("}})",
               kTinyOffers);
  std::unique_ptr<Market> m = Make(spec);
  EXPECT_TRUE(m->Available(0, 19.9));
  EXPECT_FALSE(m->Available(0, 20));
  EXPECT_TRUE(m->Available(0, 40));
  EXPECT_TRUE(m->Available(0, 55));
  EXPECT_FALSE(m->Available(0, 75));
  EXPECT_EQ(m->NextEventAfter(40), 70);
  std::vector<MarketEvent> evs = m->Events(0, 100);
  ASSERT_EQ(evs.size(), 8u);  // two zones x (lost 20, back 40, lost 70, back 90)
  EXPECT_EQ(evs[0].at, 20);
  EXPECT_EQ(evs[7].at, 90);
  int seen = 0;
  ExpectConsistent(*m, 2, 1000, &seen);
  EXPECT_EQ(seen, 2 * 2 * 20);

  // From 25 s into the trace: down at the start, back at 15.
  Json market = spec.market.ToJson();
  market["start_seconds"] = 25;
  FleetSpec shifted = SpecWith(market.dump(), kTinyOffers);
  std::unique_ptr<Market> s = Make(shifted);
  EXPECT_FALSE(s->Available(0, 0));
  EXPECT_EQ(s->NextEventAfter(0), 15);
  // A start offset (baton sim's start points) is the same shift.
  MarketOptions o;
  o.start_offset = 25;
  std::unique_ptr<Market> s2 = Make(spec, o);
  for (double t : {0.0, 14.0, 15.0, 44.0, 45.0, 1000.0}) {
    EXPECT_EQ(s->Available(0, t), s2->Available(0, t)) << t;
    EXPECT_EQ(s->NextEventAfter(t), s2->NextEventAfter(t)) << t;
  }
}

TEST(Market, TraceNeedsEveryZoneAndAValidFile) {
  testing::ScopedTempDir tmp;
  std::string path =
      WriteTrace(tmp, "ok.json", R"({"metadata": {"gap_seconds": 10}, "data": [1]})");
  std::string bad =
      WriteTrace(tmp, "bad.json", R"({"metadata": {"gap_seconds": 10}, "data": [1, -1]})");
  FleetSpec one = SpecWith(R"({"kind": "trace", "zones": {"z1": ")" + path + R"("}})", kTwoZones);
  Result<std::unique_ptr<Market>> m = MakeMarket(one, "");
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("fleet.market.zones: no trace for zone 'z2'"),
            std::string::npos)
      << m.status().message();
  FleetSpec broken =
      SpecWith(R"({"kind": "trace", "zones": {"z1": ")" + bad + R"(", "z2": ")" + path + R"("}})",
               kTwoZones);
  m = MakeMarket(broken, "");
  ASSERT_FALSE(m.ok());
  EXPECT_TRUE(std::regex_search(m.status().message(),
                                std::regex(R"(^demo\.yaml:\d+:\d+: fleet\.market\.zones\.z1: )")))
      << m.status().message();
  EXPECT_NE(m.status().message().find("bad.json: data[1]: expected a count, got -1"),
            std::string::npos)
      << m.status().message();
}

TEST(Market, LoadsTheCopiedPublicTraces) {
  std::string zones;
  for (const char* z : {"us-east-1a", "us-east-1c"}) {
    zones += fmt::format(R"({}"{}": "../{}/{}_v100_1.json")", zones.empty() ? "" : ", ", z,
                         kTraceDir, z);
  }
  FleetSpec spec = SpecWith(R"({"kind": "trace", "start_hours": 100, "zones": {)" + zones + "}}",
                            R"([{"instance_type": "p3", "zones": ["us-east-1a", "us-east-1c"],
                                 "spot": 0.92, "on_demand": 3.06}])");
  std::unique_ptr<Market> m = Make(spec);
  ASSERT_TRUE(m);
  // Against the file itself: tick of (t + 100 h) / 195 s, wrapped.
  Result<Json> raw = ReadJsonFile(
      Env::Default(), fmt::format("{}/{}/us-east-1a_v100_1.json", BATON_SOURCE_DIR, kTraceDir));
  ASSERT_TRUE(raw.ok());
  const Json& data = (*raw)["data"];
  const double gap = (*raw)["metadata"]["gap_seconds"].get<double>();
  ASSERT_EQ(gap, 195);
  const size_t n = data.size();
  for (double t = 0; t < 2 * n * gap; t += 977) {  // past the end too: wraps around
    size_t tick = static_cast<size_t>(std::floor((t + 100 * 3600) / gap)) % n;
    ASSERT_EQ(m->Available(0, t), data[tick].get<int>() > 0) << t;
  }
  int seen = 0;
  ExpectConsistent(*m, 4, 200 * 3600, &seen);
  EXPECT_GT(seen, 50);
  // The same bytes are compiled in for `baton sim` without a checkout.
  std::string rel = fmt::format("{}/us-east-1a_v100_1.json", kTraceDir);
  std::optional<std::string_view> embedded = EmbeddedSimFile(rel);
  ASSERT_TRUE(embedded.has_value());
  Result<std::string> disk = Env::Default()->ReadFile(std::string(BATON_SOURCE_DIR) + "/" + rel);
  ASSERT_TRUE(disk.ok());
  EXPECT_EQ(*embedded, *disk);
}

}  // namespace
}  // namespace baton::fleet
