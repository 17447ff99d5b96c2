// LoRA training throughput on the GPU (CUDA backend, bf16): tokens/s and peak GPU memory for
// LoRA r8 all-linear, batch 1, on the shapes of Qwen2.5-0.5B, Qwen2.5-1.5B and Qwen2-7B with
// random weights made on the GPU, with and without activation recomputation, printed next to
// the PEFT figures of DESIGN.md (HF transformers + PEFT on an H100) with the ratio. Also the
// "GEMM floor": the time of the step's base-weight GEMMs alone (forward x W^T, backward dy W,
// lm_head both ways), the least a step can take without faster GEMMs.
//
//   build/cuda_train_bench [--preset all|qwen2.5-0.5b|qwen2.5-1.5b|qwen2-7b] [--seq 2048]
//                          [--steps 5] [--rank 8] [--dtype bfloat16|float32]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/kernels.h"
#include "model/init_model.h"
#include "model/transformer.h"
#include "train/adamw.h"

using namespace baton;
using Clock = std::chrono::steady_clock;

namespace {

void Check(const Status& s) {
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    std::exit(1);
  }
}

double Seconds(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

struct PeftFigures {
  const char* preset;
  double tps_saved, gib_saved, tps_recompute, gib_recompute;
};
// DESIGN.md: HF transformers 5.17 + PEFT 0.21 on an H100, bf16, LoRA r8 all-linear, seq 2048.
constexpr PeftFigures kPeft[] = {{"qwen2.5-0.5b", 12270, 7.9, 6323, 4.6},
                                 {"qwen2.5-1.5b", 9148, 13.4, 4865, 6.7},
                                 {"qwen2-7b", 7790, 33.0, 4889, 18.4}};

// Every weight of `c` on the GPU, uniform in +-0.02 (norm weights +-1), made there: a 7B model
// never passes through host memory.
ModelWeights RandomWeights(const ModelConfig& c, Backend* gpu) {
  ModelWeights w;
  w.layers.resize(c.num_hidden_layers);
  uint64_t seed = 1;
  ForEachWeight(c, w, [&](const std::string& name, const Shape& shape, Tensor& slot) {
    DType dtype = shape.size() == 2 ? gpu->weight_dtype() : DType::kF32;
    slot = gpu->NewTensor(shape, dtype);
    float bound = shape.size() == 2 ? 0.02f : 1.0f;
    cudaError_t e = cuda::FillUniform(dtype == DType::kBF16 ? cuda::Elem::kBF16 : cuda::Elem::kF32,
                                      slot.raw(), slot.numel(), seed++, bound, nullptr);
    if (e != cudaSuccess) {
      std::fprintf(stderr, "FillUniform %s: %s\n", name.c_str(), cudaGetErrorString(e));
      std::exit(1);
    }
  });
  if (c.tie_word_embeddings) w.lm_head = w.embed;
  cudaDeviceSynchronize();  // the fills ran on the legacy stream; the backend's is separate
  return w;
}

// Seconds per step of the base-weight GEMMs of one training step without recompute.
double GemmFloor(Transformer& model, Backend* gpu, int64_t seq, int reps) {
  const ModelConfig& c = model.config();
  DType t = gpu->activation_dtype();
  auto run = [&] {
    for (int l = 0; l < c.num_hidden_layers; ++l) {
      for (LinearKind k : kAllLinearKinds) {
        const Tensor& w = model.weights().layers[l][k].weight;  // [out, in]
        Tensor x = gpu->NewTensor({seq, w.dim(1)}, t), y = gpu->NewTensor({seq, w.dim(0)}, t);
        Check(gpu->MatMulNT(x, w, y));                        // forward
        Check(gpu->Gemm(false, false, y, w, x, 1.0f, 0.0f));  // backward: dx = dy W
      }
    }
    const Tensor& head = model.weights().lm_head;
    Tensor x = gpu->NewTensor({seq, c.hidden_size}, t), y = gpu->NewTensor({seq, c.vocab_size}, t);
    Check(gpu->MatMulNT(x, head, y));
    Check(gpu->Gemm(false, false, y, head, x, 1.0f, 0.0f));
  };
  run();
  Check(gpu->Synchronize());
  auto t0 = Clock::now();
  for (int r = 0; r < reps; ++r) run();
  Check(gpu->Synchronize());
  return Seconds(t0) / reps;
}

void RunPreset(const std::string& preset, int64_t seq, int64_t steps, int64_t rank,
               const std::string& dtype) {
  Result<ModelConfig> config = ModelPreset(preset, 0);
  Check(config.status());
  CudaBackendOptions o;
  Result<DType> act = DTypeFromTorchName(dtype);
  Check(act.status());
  o.activations = *act;
  Result<std::unique_ptr<Backend>> made = MakeCudaBackend(o);
  Check(made.status());
  std::unique_ptr<Backend> gpu = std::move(made).value();
  Result<std::unique_ptr<Transformer>> model =
      Transformer::Create(*config, RandomWeights(*config, gpu.get()), gpu.get());
  Check(model.status());
  LoraConfig lc;
  lc.r = rank;
  lc.alpha = 2.0 * rank;
  lc.dropout = 0.05;
  lc.target_modules = {"all-linear"};
  LoraAdapter adapter = LoraAdapter::Create(*config, lc, gpu.get());
  Check(adapter.InitLikePeft(1));
  LoraAdapter grads = LoraAdapter::Create(*config, lc, gpu.get());
  (*model)->SetAdapter(&adapter);
  AdamW opt(adapter.params().numel(), {}, gpu.get());
  std::vector<int32_t> ids(seq);
  for (int64_t i = 0; i < seq; ++i) ids[i] = static_cast<int32_t>((i * 7919 + 11) % 150000);
  Tensor tokens = Tensor::FromI32(ids, {1, seq});

  std::printf(
      "\n%s: %lld layers, hidden %lld; LoRA r%lld all-linear (%lld trainable), seq %lld, "
      "batch 1, %s\n",
      preset.c_str(), static_cast<long long>(config->num_hidden_layers),
      static_cast<long long>(config->hidden_size), static_cast<long long>(rank),
      static_cast<long long>(adapter.params().numel()), static_cast<long long>(seq),
      gpu->name().c_str());
  const PeftFigures* peft = nullptr;
  for (const PeftFigures& p : kPeft) {
    if (preset == p.preset) peft = &p;
  }
  std::printf("%-20s %10s %9s | %10s %9s | %8s %8s\n", "mode", "tokens/s", "peak GiB", "PEFT tok/s",
              "PEFT GiB", "speed", "memory");
  for (bool recompute : {false, true}) {
    (*model)->SetLoraDropout(0.05f, 1);
    auto step = [&] {
      Result<Transformer::LossSum> r =
          (*model)->ForwardBackward(tokens, tokens, Tensor(), 1.0f / seq, recompute, &grads);
      Check(r.status());
      Check(opt.Step(adapter.params(), grads.params(), 1e-4));
      Check(gpu->Zero(grads.params()));
    };
    gpu->ResetPeakDeviceBytes();
    step();  // warm-up: GEMM plans, the memory pool
    Check(gpu->Synchronize());
    auto t0 = Clock::now();
    for (int64_t s = 0; s < steps; ++s) step();
    Check(gpu->Synchronize());
    double tps = static_cast<double>(seq * steps) / Seconds(t0);
    double gib = static_cast<double>(gpu->PeakDeviceBytes().value_or(0)) / (1 << 30);
    const char* mode = recompute ? "recompute" : "saved activations";
    if (peft != nullptr) {
      double ptps = recompute ? peft->tps_recompute : peft->tps_saved;
      double pgib = recompute ? peft->gib_recompute : peft->gib_saved;
      std::printf("%-20s %10.0f %9.2f | %10.0f %9.1f | %7.2fx %7.2fx\n", mode, tps, gib, ptps, pgib,
                  tps / ptps, gib / pgib);
    } else {
      std::printf("%-20s %10.0f %9.2f |\n", mode, tps, gib);
    }
    if (!recompute) {
      double floor = GemmFloor(**model, gpu.get(), seq, 3);
      std::printf("%-20s %10.0f %9s | step time / GEMM floor = %.2f\n", "GEMM floor",
                  static_cast<double>(seq) / floor, "", static_cast<double>(seq) / tps / floor);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string preset = "all", dtype = "bfloat16";
  int64_t seq = 2048, steps = 5, rank = 8;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--preset") {
      preset = value;
    } else if (flag == "--seq") {
      seq = std::atoll(value.c_str());
    } else if (flag == "--steps") {
      steps = std::atoll(value.c_str());
    } else if (flag == "--rank") {
      rank = std::atoll(value.c_str());
    } else if (flag == "--dtype") {
      dtype = value;
    } else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  if (CudaDeviceCount() == 0) {
    std::fprintf(stderr, "cuda_train_bench: no GPU is visible\n");
    return 1;
  }
  std::vector<std::string> presets = {preset};
  if (preset == "all") presets = {"qwen2.5-0.5b", "qwen2.5-1.5b", "qwen2-7b"};
  for (const std::string& p : presets) RunPreset(p, seq, steps, rank, dtype);
  return 0;
}
