// Helpers shared by the src/data tests: fixture paths and the real Qwen tokenizer.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "base/env.h"
#include "test_paths.h"
#include "text/tokenizer.h"
#include "tiny_model.h"

namespace baton::testing {

inline std::string DatasetFixture(const std::string& name) {
  return TestDataDir() + "/datasets/" + name;
}

// Qwen3's tokenizer.json (installed by ./scripts/setup.sh), loaded once per test binary.
inline const Tokenizer& QwenTokenizer() {
  static const Tokenizer* tokenizer = [] {
    auto t = Tokenizer::FromFile(Env::Default(), TokenizerPath());
    if (!t.ok()) ADD_FAILURE() << t.status().ToString() << " (run ./scripts/setup.sh)";
    return t.ok() ? new Tokenizer(std::move(t).value()) : nullptr;
  }();
  if (tokenizer == nullptr) std::abort();
  return *tokenizer;
}

// True when `status` failed and its message holds every one of `parts`.
inline ::testing::AssertionResult FailsWith(const Status& status,
                                            std::initializer_list<std::string> parts) {
  if (status.ok()) return ::testing::AssertionFailure() << "expected an error, got OK";
  for (const std::string& p : parts) {
    if (status.message().find(p) == std::string::npos) {
      return ::testing::AssertionFailure() << "message lacks '" << p << "': " << status.message();
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace baton::testing
