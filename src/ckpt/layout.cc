#include "ckpt/layout.h"

#include <fmt/format.h>

namespace baton {
namespace {

constexpr std::string_view kPrefix = "checkpoint-";

// A canonical non-negative decimal: no sign, no leading zero (except "0"), fits in int64.
std::optional<int64_t> ParseStep(std::string_view digits) {
  if (digits.empty() || digits.size() > 18) return std::nullopt;
  if (digits.size() > 1 && digits[0] == '0') return std::nullopt;
  int64_t step = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    step = step * 10 + (c - '0');
  }
  return step;
}

}  // namespace

std::string CheckpointDir(int64_t step) { return fmt::format("{}{}", kPrefix, step); }

std::optional<int64_t> ParseCheckpointDir(std::string_view name) {
  if (!name.starts_with(kPrefix)) return std::nullopt;
  return ParseStep(name.substr(kPrefix.size()));
}

std::optional<int64_t> ParseLeftoverDir(std::string_view name) {
  if (!name.starts_with(kPrefix)) return std::nullopt;
  name.remove_prefix(kPrefix.size());
  size_t dot = name.find('.');
  if (dot == std::string_view::npos || dot + 1 == name.size()) return std::nullopt;
  return ParseStep(name.substr(0, dot));
}

}  // namespace baton
