#include "train/parity.h"

#include <cmath>
#include <cstring>

#include "model/generate.h"
#include "model/safetensors.h"
#include "model/transformer.h"
#include "train/adamw.h"

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
    item.note =
        fmt::format("shape {} vs reference {}", ShapeString(a.shape()), ShapeString(b.shape()));
  }
  item.state = ok ? State::kPassed : State::kFailed;
  return item;
}

std::vector<int64_t> Ints(const Tensor& t) {
  std::vector<int64_t> v(t.numel());
  for (int64_t i = 0; i < t.numel(); ++i) v[i] = static_cast<int64_t>(t.At(i));
  return v;
}

// The reference file names LoRA tensors as PEFT does in memory, under a prefix:
// "grad.base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight".
std::string ReferenceName(const std::string& prefix, int layer, LinearKind kind, bool is_a) {
  std::string saved = LoraAdapter::TensorName(layer, kind, is_a);  // "...lora_A.weight"
  return prefix + saved.substr(0, saved.size() - std::string(".weight").size()) + ".default.weight";
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
      out += fmt::format("{:<16} {:>8} {:>12} {:>12} {:>10}  {}\n", i.name, state, "-", "-", "-",
                         i.note);
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
  BATON_ASSIGN_OR_RETURN(logits, backend->DownloadF32(logits));
  report.items.push_back(
      Compare("logits", logits, want_logits, o.logits_tolerance, [](int64_t) { return true; }));

  // 2. A right-padded batch: only positions with mask 1 are compared.
  BATON_ASSIGN_OR_RETURN(Tensor batch_ids, ref.Get("batch_ids"));
  BATON_ASSIGN_OR_RETURN(Tensor batch_mask, ref.Get("batch_attention_mask"));
  BATON_ASSIGN_OR_RETURN(Tensor want_batch, ref.Get("batch_logits"));
  Tensor mask = ToU8(batch_mask);
  BATON_ASSIGN_OR_RETURN(Tensor batch_logits, model->Forward(ToI32(batch_ids), mask));
  BATON_ASSIGN_OR_RETURN(batch_logits, backend->DownloadF32(batch_logits));
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
  g.note = full == want
               ? fmt::format("{}/{} new tokens match", got.tokens.size(), gen.max_new_tokens)
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
  BATON_ASSIGN_OR_RETURN(LoraAdapter host_adapter,
                         LoraAdapter::Load(env, *o.adapter_dir, model->config()));
  BATON_ASSIGN_OR_RETURN(LoraAdapter adapter, host_adapter.ToBackend(backend));
  model->SetAdapter(&adapter);
  BATON_ASSIGN_OR_RETURN(Tensor want_lora, ref.Get("lora_logits"));
  BATON_ASSIGN_OR_RETURN(Tensor lora_logits, model->Forward(ToI32(ids), Tensor()));
  BATON_ASSIGN_OR_RETURN(lora_logits, backend->DownloadF32(lora_logits));
  report.items.push_back(Compare("lora_logits", lora_logits, want_lora, o.logits_tolerance,
                                 [](int64_t) { return true; }));
  // Loss and gradients of every LoRA tensor (mean over labelled tokens, as HF).
  BATON_ASSIGN_OR_RETURN(Tensor labels_t, ref.Get("labels"));
  BATON_ASSIGN_OR_RETURN(Tensor want_loss, ref.Get("lora_loss"));
  Tensor labels = ToI32(labels_t);
  int64_t labelled = 0;
  for (int64_t i = 1; i < labels.numel(); ++i)
    labelled += labels.data<int32_t>()[i] != kIgnoreLabel;
  LoraAdapter grads = LoraAdapter::Create(model->config(), adapter.config(), backend);
  BATON_ASSIGN_OR_RETURN(
      Transformer::LossSum sum,
      model->ForwardBackward(ToI32(ids), labels, Tensor(), 1.0f / static_cast<float>(labelled),
                             false, &grads));
  double loss = sum.loss / static_cast<double>(sum.tokens);
  Tensor got_loss = Tensor::FromF32({static_cast<float>(loss)}, {1});
  ParityItem li =
      Compare("lora_loss", got_loss, want_loss, o.loss_tolerance, [](int64_t) { return true; });
  li.note = fmt::format("{:.7f} vs {:.7f}", loss, want_loss.At(0));
  report.items.push_back(li);

  // Compares our per-entry tensors with the reference's "<prefix><PEFT in-memory name>" ones.
  auto compare_all = [&](const std::string& item_name, const std::string& prefix,
                         const LoraAdapter& got_on_device) -> Result<ParityItem> {
    BATON_ASSIGN_OR_RETURN(LoraAdapter got, got_on_device.ToHost());
    ParityItem worst;
    worst.name = item_name;
    worst.tolerance = o.grad_tolerance;
    int compared = 0;
    for (const LoraEntry& e : got.entries()) {
      for (bool is_a : {true, false}) {
        std::string name = ReferenceName(prefix, e.layer, e.kind, is_a);
        if (!ref.Has(name)) return NotFound("{}: reference has no '{}'", o.reference_path, name);
        BATON_ASSIGN_OR_RETURN(Tensor want, ref.Get(name));
        ParityItem one =
            Compare(name, is_a ? e.a : e.b, want, o.grad_tolerance, [](int64_t) { return true; });
        ++compared;
        if (one.state == State::kFailed || one.max_rel >= worst.max_rel) {
          bool was_failed = worst.state == State::kFailed;
          if (!was_failed || one.state == State::kFailed) {
            worst.max_rel = one.max_rel;
            worst.max_abs = one.max_abs;
            worst.note = "worst: " + name.substr(prefix.size());
          }
          if (one.state == State::kFailed) worst.state = State::kFailed;
        }
      }
    }
    worst.note = fmt::format("{} tensors; {}", compared, worst.note);
    return worst;
  };
  BATON_ASSIGN_OR_RETURN(ParityItem gi, compare_all("lora_grads", "grad.", grads));
  report.items.push_back(gi);

  // One AdamW step from the adapter weights, fed the REFERENCE gradients so that the item
  // checks the optimizer alone: the first step is about lr * g / (|g| + eps), which amplifies
  // differences of gradients near eps (1e-8) ~1e4-fold (lora_grads checks the gradients).
  LoraAdapter ref_grads = LoraAdapter::Create(model->config(), adapter.config());
  for (LoraEntry& e : ref_grads.entries()) {
    for (bool is_a : {true, false}) {
      std::string name = ReferenceName("grad.", e.layer, e.kind, is_a);
      BATON_ASSIGN_OR_RETURN(Tensor g, ref.Get(name));
      Tensor& slot = is_a ? e.a : e.b;
      if (g.shape() != slot.shape() || g.dtype() != DType::kF32) {
        return InvalidArgument("{}: '{}' is {}, want F32{}", o.reference_path, name, g.Describe(),
                               ShapeString(slot.shape()));
      }
      std::memcpy(slot.raw(), g.raw(), g.nbytes());
    }
  }
  AdamWOptions adamw;  // the reference's settings: lr 1e-3, betas (0.9, 0.999), eps 1e-8, wd 0.1
  adamw.weight_decay = 0.1;
  AdamW opt(adapter.params().numel(), adamw, backend);
  BATON_ASSIGN_OR_RETURN(LoraAdapter ref_grads_here, ref_grads.ToBackend(backend));
  BATON_RETURN_IF_ERROR(opt.Step(adapter.params(), ref_grads_here.params(), 1e-3));
  BATON_ASSIGN_OR_RETURN(ParityItem ai, compare_all("adamw_step", "adamw1.", adapter));
  report.items.push_back(ai);
  return report;
}

}  // namespace baton
