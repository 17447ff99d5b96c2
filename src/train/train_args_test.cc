#include "train/train_args.h"

#include <gtest/gtest.h>

namespace baton {
namespace {

TrainArgs Valid() {
  TrainArgs a;
  a.model = "m";
  a.dataset = {"self-cognition#4"};
  return a;
}

TEST(TrainArgs, ValidateRefusesStringsThatAreNotUtf8NamingTheFlag) {
  // Every string is saved in each checkpoint's JSON; nlohmann's dump() throws on these.
  TrainArgs a = Valid();
  ASSERT_TRUE(a.Validate().ok());
  a.system = "sys\xFE";
  EXPECT_EQ(a.Validate().message(), "--system: not valid UTF-8: byte 0xFE at offset 3");
  a = Valid();
  a.model_author = {"巴顿团队", "Baton\xC0\x80"};
  EXPECT_EQ(a.Validate().message(), "--model_author: not valid UTF-8: byte 0xC0 at offset 5");
  a = Valid();
  a.output_dir = "run\xFF";
  EXPECT_EQ(a.Validate().message(), "--output_dir: not valid UTF-8: byte 0xFF at offset 3");
}

}  // namespace
}  // namespace baton
