#include "base/strings.h"

#include <gtest/gtest.h>

namespace baton {
namespace {

TEST(ReplaceAllTest, EveryOccurrenceOnceAndNothingForAnEmptyPattern) {
  std::string s = "{a} and {a}{a}";
  ReplaceAll(&s, "{a}", "x");
  EXPECT_EQ(s, "x and xx");
  s = "aa";
  ReplaceAll(&s, "a", "aa");  // what was put in is not scanned again
  EXPECT_EQ(s, "aaaa");
  s = "secret";
  ReplaceAll(&s, "", "<redacted>");
  EXPECT_EQ(s, "secret");
  ReplaceAll(&s, "secret", "");
  EXPECT_EQ(s, "");
}

}  // namespace
}  // namespace baton
