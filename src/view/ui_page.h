// The run's web page: one HTML document with its CSS, its script and Chart.js (Debian's
// libjs-chart.js, compiled into the binary by CMakeLists.txt) inlined, so that it needs nothing
// from outside the machine. Served by `baton ui` (it polls /api/run), or self-contained with the
// view inlined as a report.
#pragma once

#include <string>
#include <string_view>

#include "base/json.h"
#include "run/layout.h"

namespace baton::view {

// The files compiled in from src/view/ui/ and /usr/share/javascript/chart.js/chart.min.js.
std::string_view UiPageTemplate();
std::string_view UiAppJs();
std::string_view UiStyleCss();
std::string_view ChartJs();

// The page `baton ui` serves: it reads the view from /api/run, relative to its own URL.
std::string RenderLivePage();
// report.html: the same page with `view` (BuildRunView's document) inlined; it fetches nothing.
std::string RenderReportHtml(const Json& view);
inline constexpr const char* kReportHtmlName = kReportPageName;  // run/layout.h

}  // namespace baton::view
