// logging.jsonl's ms-swift shapes that are pure functions: the final line's strings and
// log_history, and what a resume keeps of the log.
#include "train/run_log.h"

#include <gtest/gtest.h>

namespace baton {
namespace {

TEST(RunLogShapes, StatArrayIsMsSwiftsString) {
  // numpy: mean 3, population std sqrt(2).
  EXPECT_EQ(StatArray({1, 2, 3, 4, 5}),
            "3.000000\u00b11.414214, min=1.000000, max=5.000000, size=5");
  EXPECT_EQ(StatArray({7}), "7.000000\u00b10.000000, min=7.000000, max=7.000000, size=1");
  EXPECT_EQ(StatArray({}), "");
}

TEST(RunLogShapes, ModelParameterInfoIsMsSwiftsString) {
  EXPECT_EQ(ModelParameterInfo(7'635'801'600, 20'185'088, 64),
            "PeftModelForCausalLM: 7635.8016M Params (20.1851M Trainable [0.2643%]), 0.0001M "
            "Buffers.");
}

TEST(RunLogShapes, LogHistoryDropsProgressKeysAndAddsStep) {
  std::string text =
      R"j({"loss":1.5,"grad_norm":0.3,"learning_rate":1e-4,"token_acc":0.25,"epoch":0.5,)j"
      R"j("global_step/max_steps":"5/10","percentage":"50.00%","elapsed_time":"1s",)j"
      R"j("remaining_time":"1s","memory(GiB)":0.1,"train_speed(iter/s)":5.0})j"
      "\n"
      R"j({"eval_loss":1.2,"eval_token_acc":0.5,"epoch":0.5,"global_step/max_steps":"5/10"})j"
      "\n"
      "not json\n"
      R"j({"train_runtime":2.0,"train_loss":1.4,"global_step/max_steps":"10/10"})j"
      "\n";
  Json history = LogHistory(text);
  ASSERT_EQ(history.size(), 3u);
  EXPECT_EQ(history[0], Json::parse(R"j({"loss":1.5,"grad_norm":0.3,"learning_rate":1e-4,
                                        "token_acc":0.25,"epoch":0.5,"step":5})j"));
  EXPECT_EQ(history[1], Json::parse(R"j({"eval_loss":1.2,"eval_token_acc":0.5,"epoch":0.5,
                                        "step":5})j"));
  EXPECT_EQ(history[2], Json::parse(R"j({"train_runtime":2.0,"train_loss":1.4,"step":10})j"));
}

TEST(RunLogShapes, AResumeDropsTheSummaryAndFinalLines) {
  std::string train = R"j({"loss":1,"global_step/max_steps":"10/10"})j";
  std::string summary = R"j({"train_runtime":2,"global_step/max_steps":"10/10"})j";
  std::string final_line = R"j({"last_model_checkpoint":"x","log_history":[]})j";
  EXPECT_EQ(TrimLogText(train + "\n" + summary + "\n" + final_line + "\n", 10), train + "\n");
}

}  // namespace
}  // namespace baton
