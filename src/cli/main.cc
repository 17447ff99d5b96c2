#include <cstdio>
#include <string_view>

#include "base/utf8.h"
#include "cli/commands.h"

namespace baton::cli {

int ReportError(const Status& status) {
  std::fprintf(stderr, "baton: error: %s\n", status.ToString().c_str());
  return status.code() == StatusCode::kInvalidArgument ? kExitUsage : kExitError;
}

namespace {

// Every argument (and every BATON_* variable) is text that may end up in a JSON document (a
// checkpoint's saved arguments, a log line), so bytes that are not UTF-8 are refused here, naming
// the flag, before any work.
Status CheckArgumentsAreUtf8(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (!FindInvalidUtf8(arg)) continue;
    size_t eq = arg.find('=');
    if (arg.starts_with("-") && eq != std::string_view::npos &&
        !FindInvalidUtf8(arg.substr(0, eq))) {
      return CheckUtf8(arg.substr(eq + 1), arg.substr(0, eq));  // --flag=value
    }
    std::string_view prev = i > 1 ? std::string_view(argv[i - 1]) : std::string_view();
    if (!arg.starts_with("-") && prev.starts_with("-") &&
        prev.find('=') == std::string_view::npos) {
      return CheckUtf8(arg, prev);  // --flag value
    }
    // One of several values of a flag, or an argument of its own: its position, and the flag
    // before it if any.
    std::string what = fmt::format("argument {}", i);
    for (int j = i - 1; j >= 1; --j) {
      std::string_view flag = argv[j];
      if (!flag.starts_with("-")) continue;
      what += fmt::format(" (after {})", flag.substr(0, flag.find('=')));
      break;
    }
    return CheckUtf8(arg, what);
  }
  // Baton's environment variables too: BATON_INSTANCE_ID, for one, becomes the lease holder.
  for (const EnvVarInfo& v : kEnvVars) {
    if (std::optional<std::string> value = GetEnvVar(v.var)) {
      BATON_RETURN_IF_ERROR(CheckUtf8(*value, v.name));
    }
  }
  return Status::Ok();
}

}  // namespace
}  // namespace baton::cli

int main(int argc, char** argv) {
  if (baton::Status s = baton::cli::CheckArgumentsAreUtf8(argc, argv); !s.ok()) {
    return baton::cli::ReportError(s);
  }
  CLI::App app{"baton: LoRA fine-tuning that survives spot-instance preemption"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "baton 0.1.0");
  baton::cli::Action action;
  baton::cli::AddInferCommand(app, action);
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
