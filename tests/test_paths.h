// Where the tests find the files they read (fixtures, golden cases, the tokenizer, examples):
// the source tree CMake configured (BATON_SOURCE_DIR), or the one EnvVar::kTestSourceDir names,
// a copy of those files carried with the test binary to another machine (scripts/gpu_check.sh).
// Tests ask here rather than spell the configure-time path.
#pragma once

#include <optional>
#include <string>

#include "base/process_contract.h"

namespace baton::testing {

inline std::string SourceDir() {
  std::optional<std::string> dir = GetEnvVar(EnvVar::kTestSourceDir);
  return dir ? *dir : std::string(BATON_SOURCE_DIR);
}

// `relative` (e.g. "examples/data/self_cognition.jsonl") in the source tree.
inline std::string SourcePath(const std::string& relative) { return SourceDir() + "/" + relative; }

inline std::string TestDataDir() { return SourcePath("tests/data"); }

}  // namespace baton::testing
