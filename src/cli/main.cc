#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "base/utf8.h"
#include "cli/commands.h"

namespace baton::cli {
namespace {

// CLI11 (2.1) reads "nan", "inf" and 1e999 as floats, and integers with strtoll's base 0 (so
// 010 is 8 and 0x10 is 16) saturating on overflow (so -1 is 2^64-1 for an unsigned flag):
// every numeric flag is checked here first, as written. The empty string is "no problem".
std::string CheckNumberText(const std::string& type, const std::string& s) {
  if (s.empty()) return "expected a number, got nothing";
  errno = 0;
  char* end = nullptr;
  if (type.starts_with("FLOAT")) {
    double v = std::strtod(s.c_str(), &end);
    if (*end != '\0') return fmt::format("expected a number, got '{}'", s);
    if (!std::isfinite(v)) return fmt::format("expected a finite number, got '{}'", s);
    return "";
  }
  bool is_unsigned = type.starts_with("UINT");
  size_t digits = s[0] == '+' || (s[0] == '-' && !is_unsigned) ? 1 : 0;
  // A leading 0 would make CLI11 read the rest as octal.
  if (s.size() == digits || s.find_first_not_of("0123456789", digits) != std::string::npos ||
      (s[digits] == '0' && s.size() > digits + 1)) {
    return fmt::format("expected a{} integer in decimal digits (no leading 0), got '{}'",
                       is_unsigned ? " non-negative" : "n", s);
  }
  if (is_unsigned) {
    std::strtoull(s.c_str(), &end, 10);
  } else {
    std::strtoll(s.c_str(), &end, 10);
  }
  if (errno == ERANGE) return fmt::format("{} is out of range for an integer", s);
  return "";
}

}  // namespace

void CheckNumericFlags(CLI::App* app) {
  for (CLI::Option* opt : app->get_options()) {
    std::string type = opt->get_type_name();
    if (!type.starts_with("FLOAT") && !type.starts_with("INT") && !type.starts_with("UINT")) {
      continue;
    }
    opt->check(CLI::Validator([type](std::string& s) { return CheckNumberText(type, s); }, ""));
  }
  for (CLI::App* sub : app->get_subcommands([](CLI::App*) { return true; })) {
    CheckNumericFlags(sub);
  }
}

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
  baton::cli::AddReportCommand(app, action);
  baton::cli::AddUiCommand(app, action);
  baton::cli::CheckNumericFlags(&app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every other parse error (a flag out of range, unknown or
    // missing) is a usage error, with the contract's code rather than CLI11's own (105, 106...).
    return app.exit(e) == 0 ? 0 : baton::kExitUsage;
  }
  return action ? action() : 0;
}
