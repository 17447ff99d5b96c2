#include "base/process_contract.h"

#include <cstdlib>

namespace baton {

const char* EnvVarName(EnvVar var) {
  for (const EnvVarInfo& v : kEnvVars) {
    if (v.var == var) return v.name.data();  // the literals are NUL-terminated
  }
  return "BATON_?";
}

std::optional<std::string> GetEnvVar(EnvVar var) {
  const char* v = std::getenv(EnvVarName(var));
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

void SetEnvVar(EnvVar var, const std::optional<std::string>& value) {
  if (value) {
    ::setenv(EnvVarName(var), value->c_str(), 1);
  } else {
    ::unsetenv(EnvVarName(var));
  }
}

}  // namespace baton
