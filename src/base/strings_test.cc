#include "base/strings.h"

#include <gtest/gtest.h>

#include <vector>

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

namespace baton {
namespace {

TEST(RedactUrlTest, HidesPasswordsTokensAndSignaturesOnly) {
  EXPECT_EQ(RedactUrl("https://hook:s3cr3t@example.com/x?a=1"),
            "https://hook:***@example.com/x?a=1");
  EXPECT_EQ(RedactUrl("https://ghp_token@example.com"), "https://***@example.com");
  EXPECT_EQ(RedactUrl("https://u:p@ss@example.com:8443/p"), "https://u:***@example.com:8443/p");
  EXPECT_EQ(RedactUrl("https://oapi.dingtalk.com/robot/send?access_token=abc123&x=1"),
            "https://oapi.dingtalk.com/robot/send?access_token=***&x=1");
  EXPECT_EQ(RedactUrl("https://b.s3.amazonaws.com/k?X-Amz-Signature=ff&X-Amz-Credential=AK%2F1"
                      "&X-Amz-Expires=60"),
            "https://b.s3.amazonaws.com/k?X-Amz-Signature=***&X-Amz-Credential=***"
            "&X-Amz-Expires=60");
  EXPECT_EQ(RedactUrl("https://h/send?timestamp=1&sign=zz#frag"),
            "https://h/send?timestamp=1&sign=***#frag");
  // A URL inside a parameter (a store's endpoint), raw or percent-encoded.
  EXPECT_EQ(RedactUrl("s3://bkt/run?endpoint=http://minio:pw@10.0.0.1:9000&region=x&max_keys=5"),
            "s3://bkt/run?endpoint=http://minio:***@10.0.0.1:9000&region=x&max_keys=5");
  EXPECT_EQ(RedactUrl("s3://bkt/run?endpoint=http%3A%2F%2Fminio%3Apw%40h%3A9000"),
            "s3://bkt/run?endpoint=http%3A%2F%2Fminio%3A***%40h%3A9000");
  // Nothing to hide: unchanged.
  for (const char* same : {"https://example.com/a/b?c=d", "s3://bkt/run", "/local/path", "",
                           "not a url", "http://host:80"}) {
    EXPECT_EQ(RedactUrl(same), same);
  }
}

TEST(ShellQuoteTest, OneWordWhateverItHolds) {
  EXPECT_EQ(ShellQuote(""), "''");
  EXPECT_EQ(ShellQuote("/a b/c"), "'/a b/c'");
  EXPECT_EQ(ShellQuote("it's"), "'it'\\''s'");
  EXPECT_EQ(ShellQuote("$(rm -rf ~);`x`"), "'$(rm -rf ~);`x`'");
}

TEST(ValidatePathSegmentTest, OneSegmentThatCannotClimbOut) {
  for (const char* good : {"self-cognition-demo", "run 1", "小巴", "a.b", "..a", "i-0abc:spot"}) {
    EXPECT_TRUE(ValidatePathSegment(good, "name").ok()) << good;
  }
  for (const std::string& bad : std::vector<std::string>{
           "", ".", "..", "../../victim", "a/b", "a\\b", "x\ny", "tab\there",
           std::string("nul\0x", 5), std::string(201, 'a'), "del\x7f", "i-\xFE", "\xE5\xB0"}) {
    Status s = ValidatePathSegment(bad, "job name");
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find("job name"), std::string::npos) << s.message();
    EXPECT_EQ(s.message().find('\n'), std::string::npos) << s.message();
  }
}

}  // namespace
}  // namespace baton
