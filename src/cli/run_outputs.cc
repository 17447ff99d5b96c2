#include "cli/run_outputs.h"

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "base/json.h"
#include "base/strings.h"
#include "store/store.h"
#include "view/run_plots.h"
#include "view/run_view.h"
#include "view/ui_page.h"

namespace baton::cli {

void WriteRunOutputs(const std::string& output_url) {
  auto warn = [](const std::string& w) { std::fprintf(stderr, "warning: plots: %s\n", w.c_str()); };
  Result<std::unique_ptr<Store>> store = OpenStore(output_url, OpenMode::kMustExist);
  Result<std::string> log =
      store.ok() ? view::ReadRunLogText(store->get()) : Result<std::string>(store.status());
  if (!log.ok()) return warn(log.status().ToString());
  Store* s = store->get();
  Result<std::vector<std::string>> written = view::WriteLogPlots(
      view::ReadLogScalarSeries(*log),
      [s](const std::string& name, const std::string& png) {
        return s->Put(JoinKey(view::kImagesDir, name), png);
      },
      warn);
  if (!written.ok()) return warn(written.status().ToString());
  std::fprintf(stderr, "images_dir: %s (%zu plots)\n",
               JoinKey(RedactUrl(output_url), view::kImagesDir).c_str(), written->size());
  const Json run_view = view::BuildRunView(s, view::RunViewOptions());
  if (Status put = s->Put(view::kReportHtmlName, view::RenderReportHtml(run_view)); !put.ok()) {
    return warn(put.ToString());
  }
  std::fprintf(stderr, "report: %s\n",
               JoinKey(RedactUrl(output_url), view::kReportHtmlName).c_str());
}

}  // namespace baton::cli
