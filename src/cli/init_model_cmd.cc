#include "cli/commands.h"
namespace baton::cli {
void AddInitModelCommand(CLI::App& root, Action& action) {}
}
