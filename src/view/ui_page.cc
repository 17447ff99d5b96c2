#include "view/ui_page.h"

#include <utility>
#include <vector>

namespace baton::view {
namespace {

// The view as JSON that is safe inside a <script> element: '<' only occurs inside JSON strings,
// where \u003c means the same, so no "</script>" or "<!--" can end or confuse the element.
std::string ScriptSafeJson(const Json& view) {
  std::string json = DumpJson(view);
  std::string out;
  out.reserve(json.size());
  for (char c : json) {
    if (c == '<') {
      out += "\\u003c";
    } else {
      out += c;
    }
  }
  return out;
}

// The template with each /*BATON:NAME*/ marker replaced, in one pass (inserted text is never
// searched for markers).
std::string Fill(std::string_view page,
                 const std::vector<std::pair<std::string_view, std::string_view>>& parts) {
  std::string out;
  size_t pos = 0;
  while (true) {
    size_t at = page.find("/*BATON:", pos);
    if (at == std::string_view::npos) break;
    size_t end = page.find("*/", at);
    if (end == std::string_view::npos) break;
    std::string_view name = page.substr(at + 8, end - at - 8);
    out.append(page.substr(pos, at - pos));
    for (const auto& [key, value] : parts) {
      if (key == name) out.append(value);
    }
    pos = end + 2;
  }
  out.append(page.substr(pos));
  return out;
}

std::string Render(std::string_view data) {
  return Fill(
      UiPageTemplate(),
      {{"STYLE", UiStyleCss()}, {"CHART_JS", ChartJs()}, {"APP_JS", UiAppJs()}, {"DATA", data}});
}

}  // namespace

std::string RenderLivePage() { return Render("null"); }

std::string RenderReportHtml(const Json& view) { return Render(ScriptSafeJson(view)); }

}  // namespace baton::view
