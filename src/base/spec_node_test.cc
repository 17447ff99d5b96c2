#include "base/spec_node.h"

#include <gtest/gtest.h>

namespace baton {
namespace {

constexpr char kDoc[] = R"(name: demo
fleet:
  capacity: 1
  time_scale: "60"
  offers:
    - {instance_type: t, zones: [z1, z2], spot: 3.5}
  overheads:
    boot_minutes: 2
  market:
  flags: [a, b]
  quoted: "true"
  yes_no: no
)";

SpecNode Doc() {
  Result<SpecNode> root = SpecNode::Parse(kDoc, "jobs/demo.yaml");
  EXPECT_TRUE(root.ok()) << root.status().ToString();
  return root.ok() ? *root : SpecNode();
}

TEST(SpecNode, KeepsPlacesAndKeyPaths) {
  SpecNode fleet = Doc().Get("fleet");
  EXPECT_EQ(fleet.path(), "fleet");
  SpecNode spot = fleet.Get("offers").Item(0).Get("spot");
  EXPECT_EQ(spot.path(), "fleet.offers[0].spot");
  EXPECT_EQ(spot.Where(), "jobs/demo.yaml:6:49");
  EXPECT_EQ(spot.Error("must be cheaper").message(),
            "jobs/demo.yaml:6:49: fleet.offers[0].spot: must be cheaper");
  EXPECT_EQ(fleet.Get("offers").Item(0).Get("zones").Item(1).Where(), "jobs/demo.yaml:6:38");
  // A missing key sits at its mapping's place; so does a missing item.
  SpecNode missing = fleet.Get("overheads").Get("load_minutes");
  EXPECT_FALSE(missing.present());
  EXPECT_EQ(missing.Error("required key is missing").message(),
            "jobs/demo.yaml:8:5: fleet.overheads.load_minutes: required key is missing");
  EXPECT_EQ(fleet.Get("offers").Item(3).Error("x").message(),
            "jobs/demo.yaml:6:5: fleet.offers[3]: x");
  // The root has no key path.
  EXPECT_EQ(Doc().Error("a job spec is a YAML mapping").message(),
            "jobs/demo.yaml:1:1: a job spec is a YAML mapping");
  // A section given alone names its path.
  Result<SpecNode> alone = SpecNode::Parse(R"({"spot": -1})", "s.yaml", "fleet");
  ASSERT_TRUE(alone.ok());
  EXPECT_EQ(alone->Error("spot", "bad").message(), "s.yaml:1:10: fleet.spot: bad");
}

TEST(SpecNode, ReadsScalarsAsTheTypeAskedFor) {
  SpecNode fleet = Doc().Get("fleet");
  EXPECT_EQ(*fleet.Int("capacity", 0), 1);
  EXPECT_EQ(*fleet.Number("time_scale", 0), 60);  // quoted or not
  EXPECT_EQ(*fleet.Number("absent", 7), 7);
  EXPECT_EQ(*fleet.String("quoted", ""), "true");
  EXPECT_TRUE(*fleet.Bool("quoted", false));
  EXPECT_FALSE(*fleet.Bool("yes_no", true));
  EXPECT_EQ(*fleet.Get("flags").AsStrings(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(*fleet.Get("capacity").AsStrings(), (std::vector<std::string>{"1"}));
  EXPECT_TRUE(fleet.Get("market").present());
  EXPECT_TRUE(fleet.Get("market").IsNull());
  EXPECT_TRUE(fleet.Get("nothing").IsNull());
  uint32_t u = 0;
  EXPECT_TRUE(fleet.Get("capacity").Read(&u).ok());
  EXPECT_EQ(u, 1u);

  EXPECT_EQ(fleet.Number("offers", 0).status().message(),
            "jobs/demo.yaml:6:5: fleet.offers: expected a number, got a list");
  EXPECT_EQ(fleet.Get("flags").Item(0).AsNumber().status().message(),
            "jobs/demo.yaml:10:11: fleet.flags[0]: expected a number, got 'a'");
  EXPECT_TRUE(fleet.Int("time_scale", 0).ok());
  EXPECT_EQ(fleet.Get("offers").Item(0).Int("spot", 0).status().message(),
            "jobs/demo.yaml:6:49: fleet.offers[0].spot: expected an integer, got '3.5'");
  EXPECT_EQ(fleet.Bool("capacity", false).status().message(),
            "jobs/demo.yaml:3:13: fleet.capacity: expected true or false, got '1'");
  EXPECT_EQ(fleet.String("overheads", "").status().message(),
            "jobs/demo.yaml:8:5: fleet.overheads: expected a string, got a mapping");
  Result<SpecNode> negative = SpecNode::Parse("n: -3\nbig: 1e30\n", "x.yaml");
  ASSERT_TRUE(negative.ok());
  EXPECT_FALSE(negative->Get("n").Read(&u).ok());
  EXPECT_FALSE(negative->Get("big").AsInt().ok());
}

// Issue 15: a job with `learning_rate: inf` or `max_steps: 1e30` trained garbage. Numbers are
// finite in every spelling, integers whole and in range; errors name the file, place and key.
TEST(SpecNode, NumbersAreFiniteAndIntegersInRange) {
  Result<SpecNode> doc = SpecNode::Parse(
      "a: inf\nb: .nan\nc: -.inf\nd: 1e999\ne: nan\nf: .Inf\ng: \"inf\"\nok: 2.5e-3\n"
      "big: 1e30\nhuge: 99999999999999999999\nfrac: 2.5\nwhole: 2.0\nlimit: 9007199254740992\n"
      "neg: -1\n",
      "t.yaml", "train");
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  for (const char* key : {"a", "b", "c", "d", "e", "f", "g"}) {
    Result<double> v = doc->Number(key, 0);
    ASSERT_FALSE(v.ok()) << key << " read as " << *v;
    EXPECT_NE(v.status().message().find(fmt::format("train.{}: expected a finite number", key)),
              std::string::npos)
        << v.status().message();
    double field = 1;
    EXPECT_FALSE(doc->Get(key).Read(&field).ok()) << key;
    EXPECT_EQ(field, 1) << key;
  }
  EXPECT_EQ(*doc->Number("ok", 0), 2.5e-3);
  EXPECT_EQ(doc->Int("big", 0).status().message(),
            "t.yaml:9:6: train.big: 1e30 is out of range for an integer (at most "
            "9223372036854775807)");
  EXPECT_NE(doc->Int("huge", 0).status().message().find("train.huge: 99999999999999999999 is out "
                                                        "of range"),
            std::string::npos);
  EXPECT_EQ(doc->Int("frac", 0).status().message(),
            "t.yaml:11:7: train.frac: expected an integer, got '2.5'");
  EXPECT_FALSE(doc->Int("a", 0).ok());
  EXPECT_EQ(*doc->Int("whole", 0), 2);
  EXPECT_EQ(*doc->Int("limit", 0), 9007199254740992);
  // Into a narrower field: the field's own range.
  int32_t i32 = 0;
  EXPECT_EQ(doc->Get("limit").Read(&i32).message(),
            "t.yaml:13:8: train.limit: 9007199254740992 is out of range (-2147483648..2147483647)");
  uint64_t seed = 7;
  EXPECT_FALSE(doc->Get("neg").Read(&seed).ok());
  EXPECT_EQ(seed, 7u);
}

TEST(SpecNode, CheckKeysNamesTheUnknownOrRepeatedKeyAtItsPlace) {
  SpecNode overheads = Doc().Get("fleet").Get("overheads");
  EXPECT_TRUE(overheads.CheckKeys({"boot_minutes"}).ok());
  EXPECT_EQ(overheads.CheckKeys({"load_minutes", "notice_minutes"}).message(),
            "jobs/demo.yaml:8:5: fleet.overheads.boot_minutes: unknown key (known: load_minutes, "
            "notice_minutes)");
  EXPECT_EQ(Doc().Get("fleet").Get("flags").CheckKeys({}).message(),
            "jobs/demo.yaml:10:10: fleet.flags: expected a mapping of keys, got a list");
}

TEST(SpecNode, ParseRefusesAKeyGivenTwiceInAnyMapping) {
  EXPECT_EQ(SpecNode::Parse("a: 1\nb: 2\na: 3\n", "t.yaml").status().message(),
            "t.yaml:3:1: a: the key is given twice (first on line 1)");
  EXPECT_EQ(SpecNode::Parse("train:\n  lora_rank: 8\n  seed: 1\n  lora_rank: 16\n", "job.yaml")
                .status()
                .message(),
            "job.yaml:4:3: train.lora_rank: the key is given twice (first on line 2)");
  EXPECT_EQ(SpecNode::Parse("offers:\n  - {a: 1}\n  - {a: 1, a: 2}\n", "f.yaml", "fleet")
                .status()
                .message(),
            "f.yaml:3:12: fleet.offers[1].a: the key is given twice (first on line 3)");
  // The same key in different mappings, and a key after a nested mapping, are fine.
  EXPECT_TRUE(SpecNode::Parse("a: {k: 1}\nb: {k: 2}\nl: [{k: 1}, {k: 2}]\nk: 3\n", "t").ok());
}

TEST(SpecNode, ParseRefusesAnchorsAndAliases) {
  // "Billion laughs": nine levels of nine aliases; expanded, 9^9 strings.
  std::string bomb =
      "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n";
  for (char c = 'b'; c <= 'i'; ++c) {
    std::string prev(1, static_cast<char>(c - 1));
    bomb += fmt::format("{0}: &{0} [*{1},*{1},*{1},*{1},*{1},*{1},*{1},*{1},*{1}]\n", c, prev);
  }
  Result<SpecNode> r = SpecNode::Parse(bomb, "bomb.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().rfind("bomb.yaml:1:", 0), 0u) << r.status().message();
  EXPECT_NE(r.status().message().find("anchors (&a) are not supported"), std::string::npos)
      << r.status().message();
  EXPECT_FALSE(SpecNode::Parse("a: 1\nb: *x\n", "t.yaml").ok());  // an alias without an anchor
  EXPECT_FALSE(SpecNode::Parse("base: &b {x: 1}\nc:\n  <<: *b\n", "t.yaml").ok());
}

TEST(SpecNode, ParseBoundsTheDocument) {
  std::string many = "l: [";
  for (size_t i = 0; i < SpecNode::kMaxDocumentNodes; ++i) many += "0,";
  many += "0]\n";
  Result<SpecNode> r = SpecNode::Parse(many, "big.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("more than 100000 nodes"), std::string::npos)
      << r.status().message();
  std::string huge = "a: \"" + std::string(SpecNode::kMaxDocumentBytes, 'x') + "\"\n";
  EXPECT_NE(SpecNode::Parse(huge, "huge.yaml").status().message().find("over the limit of"),
            std::string::npos);
}

TEST(SpecNode, ParseRefusesTextThatIsNotUtf8) {
  EXPECT_EQ(
      SpecNode::Parse("name: x\ntrain:\n  system: \"sys\xFE\"\n", "job.yaml").status().message(),
      "job.yaml:3:15: not valid UTF-8 (byte offset 29)");
  EXPECT_TRUE(SpecNode::Parse("model_name: [小巴, Baton]\n", "job.yaml").ok());
}

TEST(SpecNode, Durations) {
  Result<SpecNode> m =
      SpecNode::Parse("a_minutes: 2\nb_hours: 1\nb_seconds: 5\nc_hours: -1\n", "d.yaml", "market");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(**m->Duration("a"), 120);
  EXPECT_EQ(m->DurationKey("a"), "a_minutes");
  EXPECT_FALSE(m->Duration("z")->has_value());
  EXPECT_EQ(m->DurationKey("z"), "z_hours");
  EXPECT_EQ(m->Duration("b").status().message(),
            "d.yaml:3:12: market.b_seconds: give the duration once (also given as b_hours)");
  EXPECT_EQ(m->Duration("c").status().message(),
            "d.yaml:4:10: market.c_hours: must not be negative");
  // A duration must stay a number of seconds that time arithmetic can hold.
  Result<SpecNode> long_ones = SpecNode::Parse("a_hours: 1e300\nb_hours: 876000\n", "d.yaml");
  ASSERT_TRUE(long_ones.ok());
  EXPECT_EQ(long_ones->Duration("a").status().message(),
            "d.yaml:1:10: a_hours: 1e+300 is too long (at most 100 years)");
  EXPECT_EQ(**long_ones->Duration("b"), 876000.0 * 3600);
  std::set<std::string> known;
  SpecNode::AddDurationKeys("at", &known);
  EXPECT_EQ(known, (std::set<std::string>{"at_hours", "at_minutes", "at_seconds"}));
}

TEST(SpecNode, ToJsonTypesPlainScalarsOnly) {
  Json j = Doc().ToJson();
  EXPECT_EQ(j["fleet"]["capacity"], 1);
  EXPECT_EQ(j["fleet"]["time_scale"], "60");  // quoted: stays a string
  EXPECT_EQ(j["fleet"]["offers"][0]["spot"], 3.5);
  EXPECT_EQ(j["fleet"]["offers"][0]["zones"][1], "z2");
  EXPECT_TRUE(j["fleet"]["market"].is_null());
  EXPECT_EQ(j["fleet"]["quoted"], "true");
  EXPECT_EQ(j["name"], "demo");
  // JSON is YAML: the dump reads back the same.
  Result<SpecNode> back = SpecNode::Parse(j.dump(), "back.yaml");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->ToJson(), j);
}

TEST(SpecNode, BadYamlNamesItsPlace) {
  Result<SpecNode> bad = SpecNode::Parse("a: [1\nb: 2\n", "bad.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message().rfind("bad.yaml:", 0), 0u) << bad.status().message();
  EXPECT_NE(bad.status().message().find("not valid YAML"), std::string::npos);
}

}  // namespace
}  // namespace baton
