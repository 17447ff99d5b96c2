// `--ui [PORT]` of `baton run`, `baton train` and `baton fleet up`: the run's page (`baton ui`)
// served on 127.0.0.1 while the command runs, and after it until Ctrl-C.
#pragma once

#include <CLI/CLI.hpp>
#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "fleet/spec.h"
#include "view/ui_server.h"

namespace baton::cli {

struct UiFlag {
  std::vector<int> port;  // empty: --ui alone (any free port)
  CLI::Option* option = nullptr;
  bool given() const { return option != nullptr && option->count() > 0; }
};
void AddUiFlag(CLI::App* cmd, UiFlag* flag);

// When --ui was given: serves the run in `store_url` and prints the page's address; else null.
Result<std::unique_ptr<view::UiServer>> StartUiIfAsked(const UiFlag& flag,
                                                       const std::string& store_url,
                                                       std::optional<fleet::FleetSpec> spec);
// The command's work is over: keeps the page up until Ctrl-C (at once when it was pressed).
void ServeUntilStopped(view::UiServer* ui, std::atomic<bool>* stop);

}  // namespace baton::cli
