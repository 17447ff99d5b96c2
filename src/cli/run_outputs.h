// What a run leaves for people when it completes, in its own folder (the run's store): ms-swift's
// plots, images/<tag>.png for every scalar of logging.jsonl (ms-swift's sft.py:
// plot_images(images_dir, ...)), and report.html, the run's page with its view inlined
// (view/ui_page.h). `baton train` writes them when it completes the run, and so does `baton
// agent` (the trainer of `baton run` and of a cloud fleet's instances), so every run that
// finishes has them beside its checkpoints.
#pragma once

#include <string>

namespace baton::cli {

// Writes both into the run's folder at `output_url` and says where on stderr. A finished run
// stays finished when they cannot be drawn or written: warnings only.
void WriteRunOutputs(const std::string& output_url);

}  // namespace baton::cli
