#include "base/kill_point.h"

#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "base/process_contract.h"

namespace baton {
namespace {

std::mutex& HitsMutex() {
  static std::mutex* mu = new std::mutex();
  return *mu;
}

std::map<std::string, int, std::less<>>& Hits() {
  static auto* hits = new std::map<std::string, int, std::less<>>();
  return *hits;
}

// Whether `spec` (one entry of EnvVar::kKillAt) asks to die at hit number `hit` of `name`.
bool Matches(std::string_view spec, std::string_view name, int hit) {
  size_t colon = spec.rfind(':');
  if (colon == std::string_view::npos) return spec == name && hit == 1;
  if (spec.substr(0, colon) != name) return false;
  int want = 0;
  std::string_view count = spec.substr(colon + 1);
  auto [end, ec] = std::from_chars(count.data(), count.data() + count.size(), want);
  return ec == std::errc() && end == count.data() + count.size() && want == hit;
}

std::function<void(std::string_view)>& Hook() {
  static auto* hook = new std::function<void(std::string_view)>();
  return *hook;
}

}  // namespace

void SetKillPointHook(std::function<void(std::string_view name)> hook) { Hook() = std::move(hook); }

void KillPoint(std::string_view name) {
  if (Hook()) Hook()(name);
  std::optional<std::string> env = GetEnvVar(EnvVar::kKillAt);
  if (!env) return;
  int hit;
  {
    std::lock_guard<std::mutex> lock(HitsMutex());
    auto it = Hits().find(name);
    if (it == Hits().end()) it = Hits().emplace(std::string(name), 0).first;
    hit = ++it->second;
  }
  std::string_view specs(*env);
  while (!specs.empty()) {
    size_t comma = specs.find(',');
    std::string_view spec = specs.substr(0, comma);
    if (Matches(spec, name, hit)) {
      std::fprintf(stderr, "baton: kill point %.*s (hit %d): exiting with 137\n",
                   static_cast<int>(name.size()), name.data(), hit);
      ::_exit(kExitKilled);
    }
    if (comma == std::string_view::npos) break;
    specs.remove_prefix(comma + 1);
  }
}

int KillPointHits(std::string_view name) {
  std::lock_guard<std::mutex> lock(HitsMutex());
  auto it = Hits().find(name);
  return it == Hits().end() ? 0 : it->second;
}

}  // namespace baton
