#include "job/job_spec.h"

#include <gtest/gtest.h>

namespace baton {
namespace {

constexpr char kGood[] = R"(
name: demo
model: models/tiny
datasets: [self-cognition#50, s3://bkt/data/train.jsonl#10]
store: s3://bkt/runs/demo
train:
  lora_rank: 16
  lora_alpha: 32
  learning_rate: 5e-3
  max_steps: 80
  use_rslora: true
  model_name: [小巴, Baton]
  model_author: [巴顿团队, Baton Team]
  target_modules: all-linear
  seed: 7
  columns: {ask: query, reply: response}
agent:
  cloud: aws
  metadata_url: http://127.0.0.1:8999
  heartbeat_seconds: 2
hooks:
  scale_to_zero: false
  webhooks:
    - {url: "https://hooks.slack.com/services/T/B/X", format: slack}
    - url: https://example.com/hook
fleet:
  capacity: 1
  policy: spot-first
  offers:
    - {instance_type: ecs.gn7i, zone: cn-hangzhou-h, spot: 3.5, on_demand: 10}
)";

TEST(JobSpec, ParsesEverySection) {
  auto spec = ParseJobSpec(kGood, "jobs/demo.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->name, "demo");
  EXPECT_EQ(spec->train.model, "models/tiny");
  EXPECT_EQ(spec->train.dataset,
            (std::vector<std::string>{"self-cognition#50", "s3://bkt/data/train.jsonl#10"}));
  EXPECT_EQ(spec->train.output_dir, "s3://bkt/runs/demo");
  EXPECT_EQ(spec->train.lora_rank, 16);
  EXPECT_DOUBLE_EQ(spec->train.learning_rate, 5e-3);
  EXPECT_EQ(spec->train.max_steps, 80);
  EXPECT_TRUE(spec->train.use_rslora);
  EXPECT_EQ(spec->train.model_name, (std::vector<std::string>{"小巴", "Baton"}));
  EXPECT_EQ(spec->train.target_modules, (std::vector<std::string>{"all-linear"}));
  EXPECT_EQ(spec->train.seed, 7u);
  EXPECT_EQ(spec->train.columns, R"({"ask":"query","reply":"response"})");
  EXPECT_EQ(spec->train.save_steps, 500);  // untouched flags keep ms-swift's defaults
  EXPECT_EQ(spec->cloud, "aws");
  EXPECT_EQ(spec->metadata_url, "http://127.0.0.1:8999");
  EXPECT_DOUBLE_EQ(spec->heartbeat_seconds, 2);
  EXPECT_FALSE(spec->scale_to_zero);
  ASSERT_EQ(spec->webhooks.size(), 2u);
  EXPECT_EQ(spec->webhooks[0].format, "slack");
  EXPECT_EQ(spec->webhooks[1].format, "generic");
  // The fleet section keeps its place in the file (fleet::ParseFleetSpec reads it).
  EXPECT_EQ(spec->fleet.path(), "fleet");
  EXPECT_EQ(spec->fleet.Get("offers").Item(0).Get("spot").Where(), "jobs/demo.yaml:30:60");
  EXPECT_EQ(*spec->fleet.Int("capacity", 0), 1);
  EXPECT_EQ(*spec->fleet.Get("offers").Item(0).Number("spot", 0), 3.5);
  EXPECT_EQ(*spec->fleet.Get("offers").Item(0).String("zone", ""), "cn-hangzhou-h");
}

TEST(JobSpec, NameDefaultsToTheFileStem) {
  auto spec = ParseJobSpec("model: m\ndatasets: d.jsonl\nstore: out\n", "x/my-run.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->name, "my-run");
  EXPECT_EQ(spec->cloud, "none");
  EXPECT_TRUE(spec->scale_to_zero);
}

// The name becomes folders (.cache/baton-run/<name>) and keys: one path segment, or an error.
TEST(JobSpec, NameIsOnePathSegment) {
  const char* rest = "model: m\ndatasets: d.jsonl\nstore: out\n";
  for (const char* bad :
       {"../../../../victim", "..", ".", "a/b", "\"a\\\\b\"", "\"x\\ny\"", "\"\""}) {
    auto spec = ParseJobSpec(fmt::format("name: {}\n{}", bad, rest), "job.yaml");
    ASSERT_FALSE(spec.ok()) << bad << " -> " << spec->name;
    EXPECT_EQ(spec.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(spec.status().message().find("job.yaml:1:7: name"), std::string::npos)
        << spec.status().message();
  }
  // From the file name: a stem that is no name is an error, never "" (the parent folder).
  for (const char* source : {".yaml", "jobs/.hidden.yaml", "s3://b/j/.x.yaml?region=r"}) {
    auto spec = ParseJobSpec(rest, source);
    ASSERT_FALSE(spec.ok()) << source << " -> '" << spec->name << "'";
    EXPECT_NE(spec.status().message().find("add one"), std::string::npos)
        << spec.status().message();
  }
  auto spec = ParseJobSpec(rest, "s3://bkt/jobs/run-7.yaml?endpoint=http://h:9000/x");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->name, "run-7");
  spec = ParseJobSpec(fmt::format("name: 小巴 run 1\n{}", rest), "job.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
}

// Each bad spec and the words its error must contain (file:line:col and the key path).
TEST(JobSpec, ErrorsNameFileLineAndKey) {
  struct Case {
    const char* text;
    std::vector<const char*> want;
  };
  std::vector<Case> cases = {
      {"model: m\ndatasets: d\nstore: s\ntrain:\n  lora_rnak: 8\n",
       {"job.yaml:5:3", "train.lora_rnak", "unknown key"}},
      {"model: m\ndatasets: d\nstore: s\ntrain:\n  lora_rank: eight\n",
       {"job.yaml:5:14", "train.lora_rank", "integer"}},
      {"model: m\ndatasets: d\nstore: s\ntrain:\n  learning_rate: [1]\n",
       {"train.learning_rate", "number"}},
      {"model: m\ndatasets: d\nstore: s\ntrain:\n  output_dir: x\n",
       {"train.output_dir", "unknown"}},
      {"model: m\ndatasets: d\n", {"store", "required"}},
      {"model: m\ndatasets: d\nstore: s\nfleat: {}\n", {"job.yaml:4:1", "fleat", "unknown key"}},
      {"model: m\ndatasets: d\nstore: s\nagent:\n  cloud: ibm\n", {"agent.cloud", "ibm"}},
      {"model: m\ndatasets: d\nstore: s\nhooks:\n  webhooks:\n    - {url: ftp://x}\n",
       {"job.yaml:6:13", "hooks.webhooks[0].url", "http"}},
      {"model: m\ndatasets: d\nstore: s\nhooks:\n  webhooks:\n    - {url: http://x, format: "
       "teams}\n",
       {"job.yaml:6:31", "hooks.webhooks[0].format", "teams"}},
      {"model: m\ndatasets: [d\nstore: s\n", {"job.yaml:", "not valid YAML"}},
      {"- a\n- b\n", {"mapping"}},
      {"model: m\ndatasets: d\nstore: s\ntrain:\n  lora_rank: -3\n", {"train", "lora_rank"}},
  };
  for (const Case& c : cases) {
    auto spec = ParseJobSpec(c.text, "job.yaml");
    ASSERT_FALSE(spec.ok()) << c.text;
    for (const char* w : c.want) {
      EXPECT_NE(spec.status().message().find(w), std::string::npos)
          << "'" << w << "' missing in: " << spec.status().message();
    }
  }
}

}  // namespace
}  // namespace baton
