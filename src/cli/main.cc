#include <cstdio>

#include "cli/commands.h"

namespace baton::cli {

int ReportError(const Status& status) {
  std::fprintf(stderr, "baton: error: %s\n", status.ToString().c_str());
  return status.code() == StatusCode::kInvalidArgument ? kExitUsage : kExitError;
}

}  // namespace baton::cli

int main(int argc, char** argv) {
  CLI::App app{"baton: LoRA fine-tuning that survives spot-instance preemption"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "baton 0.1.0");
  baton::cli::Action action;
  baton::cli::AddInferCommand(app, action);
  baton::cli::AddExportCommand(app, action);
  baton::cli::AddParityCommand(app, action);
  baton::cli::AddInitModelCommand(app, action);
  baton::cli::AddTrainCommand(app, action);
  baton::cli::AddCkptCommand(app, action);
  baton::cli::AddStoreCommand(app, action);
  baton::cli::AddAgentCommand(app, action);
  baton::cli::AddRunCommand(app, action);
  baton::cli::AddSimCommand(app, action);
  baton::cli::AddFleetCommand(app, action);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return action ? action() : 0;
}
