#include "agent/supervise.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

namespace baton {
namespace {

// What /bin/sh makes of the substituted command: each argument of printf in [brackets].
std::string RunShell(const std::string& command) {
  FILE* p = ::popen(command.c_str(), "r");
  if (p == nullptr) return "<popen failed>";
  std::string out;
  char buf[256];
  while (size_t n = std::fread(buf, 1, sizeof(buf), p)) out.append(buf, n);
  ::pclose(p);
  return out;
}

TEST(SubstituteResumeFromTest, ThePathIsOneArgumentAndNeverCode) {
  const std::string values[] = {"/runs/a b/checkpoint-5",
                                "s3://bkt/run 1/checkpoint-5",
                                "it's",
                                "$(echo PWNED)",
                                "a\"b\\c`echo x`;d",
                                "*",
                                ""};
  // The placeholder outside quotes, inside "...", inside '...', and twice in one word.
  const std::pair<std::string, std::string> shapes[] = {
      {"printf '[%s]' {resume_from}", "[{v}]"},
      {"printf '[%s]' --resume={resume_from}", "[--resume={v}]"},
      {"printf '[%s]' \"--resume={resume_from}\"", "[--resume={v}]"},
      {"printf '[%s]' '--resume={resume_from}'", "[--resume={v}]"},
      {"printf '[%s]' \"{resume_from}\"x'{resume_from}'", "[{v}x{v}]"},
  };
  for (const auto& [shape, want_shape] : shapes) {
    for (const std::string& v : values) {
      std::string want = want_shape;
      for (size_t at; (at = want.find("{v}")) != std::string::npos;) want.replace(at, 3, v);
      std::string cmd = SubstituteResumeFrom(shape, v);
      EXPECT_EQ(RunShell(cmd), want) << shape << " with '" << v << "': " << cmd;
    }
  }
  // No placeholder, or one escaped: the command as written.
  EXPECT_EQ(SubstituteResumeFrom("swift sft --x 1", "/p"), "swift sft --x 1");
  EXPECT_EQ(SubstituteResumeFrom("echo \\{resume_from}", "/p"), "echo \\{resume_from}");
}

}  // namespace
}  // namespace baton
