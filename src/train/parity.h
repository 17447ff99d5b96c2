// `baton parity`: checks the engine against a reference file written by HF transformers + PEFT
// (format of tests/data/golden/*/reference.safetensors, see its README). Each item reports the
// max abs error and the max error relative to the largest reference magnitude
// (max|a-b| / max|b|), and passes when that relative error is within its tolerance.
// Gradients and the AdamW step are compared tensor by tensor; the worst tensor is reported.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/env.h"
#include "tensor/backend.h"

namespace baton {

struct ParityItem {
  std::string name;
  enum class State { kPassed, kFailed, kNotImplemented, kAbsent } state = State::kPassed;
  double max_abs = 0, max_rel = 0, tolerance = 0;
  std::string note;  // e.g. "20/20 tokens match" or the first difference
};

struct ParityOptions {
  std::string model_dir;
  std::optional<std::string> adapter_dir;  // LoRA items need it
  std::string reference_path;
  double logits_tolerance = 1e-4;  // f32 engine vs HF f32, relative
  double loss_tolerance = 1e-4;
  double grad_tolerance = 1e-4;  // per tensor, relative; the worst tensor is reported
};

struct ParityReport {
  std::vector<ParityItem> items;
  // False if any item failed (not-implemented items do not fail the run).
  bool ok() const;
  std::string ToText() const;  // the table `baton parity` prints
};

Result<ParityReport> RunParity(Env* env, Backend* backend, const ParityOptions& options);

}  // namespace baton
