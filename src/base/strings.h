// Small string helpers shared across layers.
#pragma once

#include <string>
#include <string_view>

namespace baton {

// Replaces every occurrence of `from` in *s with `to`, left to right, never rescanning what was
// put in (so `to` may contain `from`). An empty `from` changes nothing.
void ReplaceAll(std::string* s, std::string_view from, std::string_view to);

}  // namespace baton
