// Helpers shared by the checkpoint tests: checkpoint contents that differ by step and by
// version, so a test can tell which commit it is looking at (scratch folders: test_util.h).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace baton::ckpt_testing {

using Files = std::vector<std::pair<std::string, std::string>>;

// The four files a trainer commits, with contents that depend on `step` and `version`.
inline Files TrainerFiles(int64_t step, int version = 0) {
  auto blob = [&](size_t n, int salt) {
    std::string s(n, '\0');
    for (size_t i = 0; i < n; ++i)
      s[i] = static_cast<char>((i * 31 + step * 7 + version * 13 + salt) & 0xff);
    return s;
  };
  return {{"adapter_model.safetensors", blob(4096 + step, 1)},
          {"adapter_config.json", "{\"r\": 8, \"lora_alpha\": 32}"},
          {"optimizer.safetensors", blob(8192, 2)},
          {"trainer_state.json", "{\"global_step\": " + std::to_string(step) +
                                     ", \"version\": " + std::to_string(version) + "}"}};
}

inline std::map<std::string, std::string> AsMap(const Files& files) {
  return std::map<std::string, std::string>(files.begin(), files.end());
}

}  // namespace baton::ckpt_testing
