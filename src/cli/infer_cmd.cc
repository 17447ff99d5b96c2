#include "cli/commands.h"
namespace baton::cli {
void AddInferCommand(CLI::App& root, Action& action) {}
}
