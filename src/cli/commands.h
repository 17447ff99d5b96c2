// Subcommands of the `baton` binary. Each Add*Command registers its flags on `root` and, when
// the user picks it, stores the action to run in `action` (main runs it after parsing).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

#include "base/process_contract.h"
#include "base/status.h"

namespace baton::cli {

using Action = std::function<int()>;

void AddInferCommand(CLI::App& root, Action& action);
void AddExportCommand(CLI::App& root, Action& action);
void AddParityCommand(CLI::App& root, Action& action);
void AddInitModelCommand(CLI::App& root, Action& action);
void AddTrainCommand(CLI::App& root, Action& action);
void AddCkptCommand(CLI::App& root, Action& action);
void AddStoreCommand(CLI::App& root, Action& action);
void AddAgentCommand(CLI::App& root, Action& action);
void AddRunCommand(CLI::App& root, Action& action);
void AddSimCommand(CLI::App& root, Action& action);
void AddFleetCommand(CLI::App& root, Action& action);
void AddReportCommand(CLI::App& root, Action& action);
void AddUiCommand(CLI::App& root, Action& action);

// Adds to every integer and floating-point flag of `app` and its subcommands a check of the
// text as typed: decimal integers within range (no octal 010, no saturation), finite numbers
// (no nan, inf or 1e999). Each command then checks its flags' ranges.
void CheckNumericFlags(CLI::App* app);

// Prints "baton: error: <message>" to stderr and returns the exit code for `status`.
int ReportError(const Status& status);

}  // namespace baton::cli
