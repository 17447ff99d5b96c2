// The files `baton sim` needs without a checkout: examples/sim-*.yaml and the traces under
// data/spot-traces/, compiled into the binary by CMakeLists.txt (build/generated/sim_data.cc).
#pragma once

#include <optional>
#include <string_view>
#include <vector>

namespace baton::fleet {

// The bytes of a compiled-in file, by its path in the repository ("examples/sim-recipe.yaml",
// "data/spot-traces/availability/..."), or nullopt.
std::optional<std::string_view> EmbeddedSimFile(std::string_view path);
// Every compiled-in path.
std::vector<std::string_view> EmbeddedSimFiles();

}  // namespace baton::fleet
