#include "model/parity.h"

#include <cmath>

#include "model/generate.h"
#include "model/safetensors.h"
#include "model/transformer.h"

namespace baton {
namespace {

using State = ParityItem::State;

// Compares a[i] and b[i] for every i where `use(i)` holds.
template <typename Use>
ParityItem Compare(std::string name, const Tensor& a, const Tensor& b, double tol, Use use) {
  ParityItem item;
  item.name = std::move(name);
  item.tolerance = tol;
  double max_ref = 0, max_abs = 0;
  int64_t n = std::min(a.numel(), b.numel());
  for (int64_t i = 0; i < n; ++i) {
    if (!use(i)) continue;
    double x = a.At(i), y = b.At(i);
    max_ref = std::max(max_ref, std::fabs(y));
    double d = std::fabs(x - y);
    if (!(d <= max_abs)) max_abs = d;  // NaN propagates
  }
  item.max_abs = max_abs;
  item.max_rel = max_ref > 0 ? max_abs / max_ref : max_abs;
  bool ok = a.shape() == b.shape() && item.max_rel <= tol;
  if (a.shape() != b.shape()) {
    item.note = fmt::format("shape {} vs reference {}", ShapeString(a.shape()), ShapeString(b.shape()));
  }
  item.state = ok ? State::kPassed : State::kFailed;
  return item;
}

std::vector<int64_t> Ints(const Tensor& t) {
  std::vector<int64_t> v(t.numel());
  for (int64_t i = 0; i < t.numel(); ++i) v[i] = static_cast<int64_t>(t.At(i));
  return v;
}

Tensor ToI32(const Tensor& t) {
  Tensor out = Tensor::Empty(t.shape(), DType::kI32);
  for (int64_t i = 0; i < t.numel(); ++i) out.data<int32_t>()[i] = static_cast<int32_t>(t.At(i));
  return out;
}

Tensor ToU8(const Tensor& t) {
  Tensor out = Tensor::Empty(t.shape(), DType::kU8);
  for (int64_t i = 0; i < t.numel(); ++i) out.data<uint8_t>()[i] = t.At(i) != 0;
  return out;
}

}  // namespace

Result<double> CausalLmLoss(const Tensor& logits, const std::vector<int64_t>& labels) {
  int64_t t = logits.dim(-2), v = logits.dim(-1);
  if (static_cast<int64_t>(labels.size()) != t) {
    return InvalidArgument("CausalLmLoss: {} labels for {} positions", labels.size(), t);
  }
  double total = 0;
  int64_t count = 0;
  for (int64_t i = 0; i + 1 < t; ++i) {
    int64_t label = labels[i + 1];
    if (label == -100) continue;
    if (label < 0 || label >= v) return InvalidArgument("CausalLmLoss: label {} out of range", label);
    const float* row = logits.f32() + i * v;
    double m = row[0];
    for (int64_t j = 1; j < v; ++j) m = std::max(m, static_cast<double>(row[j]));
    double s = 0;
    for (int64_t j = 0; j < v; ++j) s += std::exp(row[j] - m);
    total += m + std::log(s) - row[label];
    ++count;
  }
  if (count == 0) return InvalidArgument("CausalLmLoss: every label is -100");
  return total / count;
}

bool ParityReport::ok() const {
  for (const ParityItem& i : items) {
    if (i.state == State::kFailed) return false;
  }
  return true;
}

std::string ParityReport::ToText() const {
  std::string out = fmt::format("{:<16} {:>8} {:>12} {:>12} {:>10}  {}\n", "item", "result",
                                "max abs", "max rel", "tolerance", "note");
  for (const ParityItem& i : items) {
    const char* state = i.state == State::kPassed   ? "ok"
                        : i.state == State::kFailed ? "FAIL"
                        : i.state == State::kAbsent ? "absent"
                                                    : "not impl";
    if (i.state == State::kNotImplemented || i.state == State::kAbsent) {
      out += fmt::format("{:<16} {:>8} {:>12} {:>12} {:>10}  {}\n", i.name, state, "-", "-", "-", i.note);
    } else {
      out += fmt::format("{:<16} {:>8} {:>12.3e} {:>12.3e} {:>10.1e}  {}\n", i.name, state,
                         i.max_abs, i.max_rel, i.tolerance, i.note);
    }
  }
  out += ok() ? "parity: PASSED\n" : "parity: FAILED\n";
  return out;
}

Result<ParityReport> RunParity(Env* env, Backend* backend, const ParityOptions& o) {
  BATON_ASSIGN_OR_RETURN(SafetensorsFile ref, SafetensorsFile::Open(env, o.reference_path));
  for (const char* key : {"input_ids", "logits", "batch_ids", "batch_attention_mask",
                          "batch_logits", "gen_prompt", "gen_greedy"}) {
    if (!ref.Has(key)) return NotFound("{}: reference has no '{}'", o.reference_path, key);
  }
  BATON_ASSIGN_OR_RETURN(std::unique_ptr<Transformer> model,
                         Transformer::Load(env, o.model_dir, backend));
  ParityReport report;

  // 1. Base logits on one sequence.
  BATON_ASSIGN_OR_RETURN(Tensor ids, ref.Get("input_ids"));
  BATON_ASSIGN_OR_RETURN(Tensor want_logits, ref.Get("logits"));
  BATON_ASSIGN_OR_RETURN(Tensor logits, model->Forward(ToI32(ids), Tensor()));
  report.items.push_back(Compare("logits", logits, want_logits, o.logits_tolerance,
                                 [](int64_t) { return true; }));

  // 2. A right-padded batch: only positions with mask 1 are compared.
  BATON_ASSIGN_OR_RETURN(Tensor batch_ids, ref.Get("batch_ids"));
  BATON_ASSIGN_OR_RETURN(Tensor batch_mask, ref.Get("batch_attention_mask"));
  BATON_ASSIGN_OR_RETURN(Tensor want_batch, ref.Get("batch_logits"));
  Tensor mask = ToU8(batch_mask);
  BATON_ASSIGN_OR_RETURN(Tensor batch_logits, model->Forward(ToI32(batch_ids), mask));
  int64_t vocab = model->config().vocab_size;
  report.items.push_back(Compare("batch_logits", batch_logits, want_batch, o.logits_tolerance,
                                 [&](int64_t i) { return mask.data<uint8_t>()[i / vocab] != 0; }));

  // 3. Greedy generation: token ids must match exactly.
  BATON_ASSIGN_OR_RETURN(Tensor prompt_t, ref.Get("gen_prompt"));
  BATON_ASSIGN_OR_RETURN(Tensor greedy_t, ref.Get("gen_greedy"));
  std::vector<int64_t> prompt = Ints(prompt_t), want = Ints(greedy_t);
  std::vector<int32_t> prompt32(prompt.begin(), prompt.end());
  GenerationOptions gen;
  gen.max_new_tokens = static_cast<int64_t>(want.size() - prompt.size());
  gen.stop_ids = model->config().eos_token_ids;
  BATON_ASSIGN_OR_RETURN(GenerationResult got, Generate(*model, prompt32, gen));
  ParityItem g;
  g.name = "generation";
  std::vector<int64_t> full = prompt;
  full.insert(full.end(), got.tokens.begin(), got.tokens.end());
  size_t same = 0;
  while (same < full.size() && same < want.size() && full[same] == want[same]) ++same;
  g.state = full == want ? State::kPassed : State::kFailed;
  g.note = full == want ? fmt::format("{}/{} new tokens match", got.tokens.size(), gen.max_new_tokens)
                        : fmt::format("first difference at position {} of {}", same, want.size());
  report.items.push_back(g);

  // 4. LoRA forward and loss.
  bool has_lora = ref.Has("lora_logits") && ref.Has("lora_loss") && ref.Has("labels");
  if (!has_lora || !o.adapter_dir) {
    for (const char* name : {"lora_logits", "lora_loss", "lora_grads", "adamw_step"}) {
      ParityItem a;
      a.name = name;
      a.state = State::kAbsent;
      a.note = has_lora ? "pass --adapter to check" : "not in the reference file";
      report.items.push_back(a);
    }
    return report;
  }
  BATON_ASSIGN_OR_RETURN(LoraAdapter adapter,
                         LoraAdapter::Load(env, *o.adapter_dir, model->config()));
  model->SetAdapter(&adapter);
  BATON_ASSIGN_OR_RETURN(Tensor want_lora, ref.Get("lora_logits"));
  BATON_ASSIGN_OR_RETURN(Tensor lora_logits, model->Forward(ToI32(ids), Tensor()));
  report.items.push_back(Compare("lora_logits", lora_logits, want_lora, o.logits_tolerance,
                                 [](int64_t) { return true; }));
  BATON_ASSIGN_OR_RETURN(Tensor labels_t, ref.Get("labels"));
  BATON_ASSIGN_OR_RETURN(Tensor want_loss, ref.Get("lora_loss"));
  BATON_ASSIGN_OR_RETURN(double loss, CausalLmLoss(lora_logits.Reshape({ids.dim(1), vocab}),
                                                   Ints(labels_t)));
  Tensor got_loss = Tensor::FromF32({static_cast<float>(loss)}, {1});
  ParityItem li = Compare("lora_loss", got_loss, want_loss, o.loss_tolerance,
                          [](int64_t) { return true; });
  li.note = fmt::format("{:.7f} vs {:.7f}", loss, want_loss.At(0));
  report.items.push_back(li);
  for (const char* name : {"lora_grads", "adamw_step"}) {
    ParityItem a;
    a.name = name;
    a.state = State::kNotImplemented;
    a.note = "not implemented yet (arrives with training)";
    report.items.push_back(a);
  }
  return report;
}

}  // namespace baton
