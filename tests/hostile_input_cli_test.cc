// Hostile inputs through the `baton` binary, as a user (or a job file in a bucket) gives them:
// each must end in a clear error naming the flag, file:line or key path, before any training,
// never in an abort or unbounded memory.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/env.h"
#include "base/spec_node.h"
#include "cli_process.h"
#include "data/dataset_reader.h"
#include "test_util.h"
#include "tiny_model.h"

namespace baton::testing {
namespace {

class HostileInputCliTest : public ::testing::Test {
 protected:
  ProcessResult Baton(std::vector<std::string> args) {
    args.insert(args.begin(), BATON_BINARY);
    return RunProcess(args, {}, tmp_.Sub("out.log"));
  }
  // Runs baton under a 2 GB address-space limit (ulimit -v): a document that expands to more
  // can only end in an allocation failure, not in the clear error these tests look for.
  ProcessResult BatonWithMemoryCap(const std::vector<std::string>& args) {
    std::vector<std::string> all = {"/bin/sh", "-c", "ulimit -v 2000000 && exec \"$@\"", "sh",
                                    BATON_BINARY};
    all.insert(all.end(), args.begin(), args.end());
    return RunProcess(all, {}, tmp_.Sub("out.log"));
  }
  void Write(const std::string& path, const std::string& text) {
    ASSERT_TRUE(Env::Default()->WriteFileAtomic(path, text).ok());
  }
  // A job for `baton run` with a local fleet; `train` is the train section's body.
  std::string Job(const std::string& train) {
    return "name: hostile\nmodel: " + tmp_.Sub("model") +
           "\ndatasets: [self-cognition#4]\nstore: " + tmp_.Sub("run") + "\ntrain:\n" + train +
           "fleet:\n  provider: local\n";
  }

  ScopedTempDir tmp_;
};

TEST_F(HostileInputCliTest, TrainRefusesAFlagThatIsNotUtf8BeforeAnyWork) {
  std::string run = tmp_.Sub("run");
  ProcessResult r = Baton({"train", "--model", tmp_.Sub("no_model"), "--dataset",
                           "self-cognition#4", "--output_dir", run, "--system", "sys\xFE"});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--system: not valid UTF-8: byte 0xFE at offset 3"), std::string::npos)
      << r.output;
  EXPECT_FALSE(Env::Default()->FileExists(run));
  r = Baton({"train", "--model", tmp_.Sub("no_model"), "--dataset", "self-cognition#4",
             "--output_dir", run, "--system=\xE5\xB0"});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--system: not valid UTF-8: a multi-byte character is cut off"),
            std::string::npos)
      << r.output;
  // A value of a flag that takes several.
  r = Baton({"train", "--model", tmp_.Sub("no_model"), "--dataset", "self-cognition#4",
             "--model_name", "x", "y\xFF"});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("(after --model_name): not valid UTF-8"), std::string::npos) << r.output;
  // An environment variable that becomes part of the run's documents (the lease holder).
  r = RunProcess({BATON_BINARY, "train", "--model", tmp_.Sub("no_model"), "--dataset",
                  "self-cognition#4", "--output_dir", run},
                 {"BATON_INSTANCE_ID=i-\xFE"}, tmp_.Sub("out.log"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("BATON_INSTANCE_ID: not valid UTF-8: byte 0xFE at offset 2"),
            std::string::npos)
      << r.output;
  EXPECT_FALSE(Env::Default()->FileExists(run));
}

TEST_F(HostileInputCliTest, RunRefusesAJobThatIsNotUtf8) {
  std::string job = tmp_.Sub("job.yaml");
  Write(job, Job("  max_steps: 2\n  system: \"sys\xFE\"\n"));
  ProcessResult r = Baton({"run", job});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find(job + ":7:15: not valid UTF-8"), std::string::npos) << r.output;
  EXPECT_FALSE(Env::Default()->FileExists(tmp_.Sub("run")));
}

TEST_F(HostileInputCliTest, RunRefusesAKeyGivenTwice) {
  std::string job = tmp_.Sub("job.yaml");
  Write(job, Job("  max_steps: 2\n  seed: 1\n  max_steps: 2000\n"));
  ProcessResult r = Baton({"run", job});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find(job + ":8:3: train.max_steps: the key is given twice (first on line 6)"),
            std::string::npos)
      << r.output;
}

TEST_F(HostileInputCliTest, AgentRefusesAnAliasBombWithItsPlace) {
  // 580 bytes; with its aliases followed, 9^9 strings (gigabytes).
  std::string bomb = "  x0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  for (int i = 1; i < 9; ++i) {
    bomb += fmt::format(
        "  x{0}: &a{0} [*a{1}, *a{1}, *a{1}, *a{1}, *a{1}, *a{1}, *a{1}, *a{1}, "
        "*a{1}]\n",
        i, i - 1);
  }
  std::string job = tmp_.Sub("bomb.yaml");
  Write(job,
        "name: bomb\nmodel: m\ndatasets: [d]\nstore: " + tmp_.Sub("run") + "\nhooks:\n" + bomb);
  for (const std::string& cmd : {"agent", "run"}) {
    ProcessResult r = cmd == std::string("agent") ? BatonWithMemoryCap({"agent", "--job", job})
                                                  : BatonWithMemoryCap({"run", job});
    EXPECT_EQ(r.exit_code, 2) << cmd << ": " << r.output;
    EXPECT_NE(r.output.find(job + ":6:"), std::string::npos) << cmd << ": " << r.output;
    EXPECT_NE(r.output.find("YAML anchors (&a0) are not supported"), std::string::npos)
        << cmd << ": " << r.output;
  }
  // A job file too big to be one is refused before it is read.
  Write(job, "name: big\n#" + std::string(SpecNode::kMaxDocumentBytes, 'x') + "\n");
  ProcessResult r = Baton({"agent", "--job", job});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("over the limit of 1048576 bytes"), std::string::npos) << r.output;
}

class HostileDataCliTest : public HostileInputCliTest {
 protected:
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(WriteTinyModel(tmp_.Sub("model"))); }
  ProcessResult Train(const std::string& dataset) {
    return Baton({"train", "--model", tmp_.Sub("model"), "--dataset", dataset, "--output_dir",
                  tmp_.Sub("run"), "--max_steps", "1", "--max_length", "64", "--template",
                  "chatml"});
  }
};

TEST_F(HostileDataCliTest, ADatasetRowOverTheLimitIsRefusedWithFileAndLine) {
  std::string data = tmp_.Sub("big.jsonl");
  std::string row = R"({"query": "q", "response": "r"})";
  std::string big =
      R"({"query": ")" + std::string(kMaxDatasetRowBytes + 1 - 30, 'x') + R"(", "response": "r"})";
  ASSERT_EQ(big.size(), kMaxDatasetRowBytes + 1);  // one byte over
  Write(data, row + "\n" + row + "\n" + big + "\n" + row + "\n");
  ProcessResult r = Train(data);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find(data + ":3: the row is longer than 8388608 bytes"), std::string::npos)
      << r.output;
  EXPECT_FALSE(Env::Default()->FileExists(tmp_.Sub("run/checkpoint-1")));
}

TEST_F(HostileDataCliTest, AnAbsurdSampleCountIsRefusedNamingTheSpec) {
  ProcessResult r = Train("self-cognition#100000000");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--dataset 'self-cognition#100000000': '#100000000' is over the limit"),
            std::string::npos)
      << r.output;
  // Within the row limit, but far more than the dataset has.
  std::string data = tmp_.Sub("two.jsonl");
  Write(data,
        "{\"query\": \"q\", \"response\": \"r\"}\n{\"query\": \"q2\", \"response\": \"r\"}\n");
  r = Train(data + "#5000");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("#5000 asks for more rows than Baton samples from a dataset of 2 rows"),
            std::string::npos)
      << r.output;
}

TEST_F(HostileDataCliTest, AModelConfigWithAnOutOfRangeNumberIsAnError) {
  std::string config = tmp_.Sub("model/config.json");
  Result<std::string> text = Env::Default()->ReadFile(config);
  ASSERT_TRUE(text.ok());
  size_t brace = text->find('{');
  Write(config, "{\n  \"rope_scaling_factor_x\": 1e99999," + text->substr(brace + 1));
  ProcessResult r = Train("self-cognition#4");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find(config + ":2:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("number overflow parsing '1e99999'"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace baton::testing
