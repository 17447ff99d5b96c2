// A stand-in for a GPU in tests and benchmarks that run without one: a Backend whose tensors
// say they live on the CUDA device but are host memory, with bf16 weights as the CUDA backend
// keeps them. Copy is a memcpy and that is all it does: every compute op fails. It shows what a
// model load hands a device (which tensors, in which dtype, with which bytes) and what the load
// costs the host, without a GPU.
//
// kKeep allocates each tensor (a load's result can be inspected); kDiscard keeps nothing: a copy
// to the device reads every source byte (as a DMA would, faulting in mapped file pages) into a
// checksum and stores none, so the host memory a load needs is measured without the device's
// share (bench/model_load_bench).
#pragma once

#include <cstring>
#include <memory>
#include <string>

#include "tensor/backend.h"

namespace baton {

class StagingDevice : public Backend {
 public:
  enum class Mode { kKeep, kDiscard };
  explicit StagingDevice(Mode mode = Mode::kKeep) : mode_(mode) {}

  std::string name() const override { return "staging device (host memory standing in for a GPU)"; }
  Device device() const override { return Device::kCuda; }
  DType activation_dtype() const override { return DType::kBF16; }
  DType weight_dtype() const override { return DType::kBF16; }
  bool SupportsDType(DType d) const override { return d == DType::kF32 || d == DType::kBF16; }

  Tensor NewTensor(Shape shape, DType dtype) override {
    size_t bytes = static_cast<size_t>(NumElements(shape)) * DTypeSize(dtype);
    auto storage = std::make_shared<Storage>();
    storage->device = Device::kCuda;
    storage->bytes = bytes;
    if (mode_ == Mode::kKeep) {
      storage->data = ::operator new(bytes > 0 ? bytes : 1);
      storage->release = [](void* p) { ::operator delete(p); };
    }  // kDiscard: no memory; DoCopy only reads the source
    ++tensors_;
    bytes_ += bytes;
    return Tensor::FromStorage(std::move(storage), std::move(shape), dtype);
  }

  int64_t tensors() const { return tensors_; }     // made by NewTensor
  int64_t bytes() const { return bytes_; }         // their sum
  uint64_t checksum() const { return checksum_; }  // kDiscard: of every byte copied in

 protected:
  Status DeviceError() const override { return error_; }
  void DoCopy(const Tensor& src, Tensor& dst) override {
    if (mode_ == Mode::kKeep || src.device() == Device::kCuda) {
      if (mode_ == Mode::kKeep) std::memcpy(dst.raw(), src.raw(), src.nbytes());
      return;
    }
    const auto* p = static_cast<const unsigned char*>(src.raw());
    uint64_t sum = checksum_;
    for (size_t i = 0; i < src.nbytes(); i += 64) sum = sum * 31 + p[i];  // one read per line
    checksum_ = sum;
  }
  void DoZero(Tensor& t) override {
    if (mode_ == Mode::kKeep) std::memset(t.raw(), 0, t.nbytes());
  }
  double DoSumSquares(const Tensor&) override { return Unsupported("SumSquares"), 0.0; }
  void DoScale(Tensor&, float) override { Unsupported("Scale"); }
  void DoAdamWStep(Tensor&, const Tensor&, Tensor&, Tensor&, const AdamWArgs&) override {
    Unsupported("AdamWStep");
  }
  void DoGemm(bool, bool, const Tensor&, const Tensor&, Tensor&, float, float) override {
    Unsupported("Gemm");
  }
  void DoAddBias(Tensor&, const Tensor&) override { Unsupported("AddBias"); }
  void DoRmsNorm(const Tensor&, const Tensor&, float, Tensor&) override { Unsupported("RmsNorm"); }
  void DoRope(Tensor&, const Tensor&, const Tensor&, float, float) override { Unsupported("Rope"); }
  void DoAttention(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                   Tensor&) override {
    Unsupported("Attention");
  }
  void DoSiluMul(const Tensor&, const Tensor&, Tensor&) override { Unsupported("SiluMul"); }
  void DoAdd(Tensor&, const Tensor&) override { Unsupported("Add"); }
  void DoEmbedding(const Tensor&, const Tensor&, Tensor&) override { Unsupported("Embedding"); }
  void DoDropout(const Tensor&, float, uint64_t, Tensor&) override { Unsupported("Dropout"); }
  void DoRmsNormBackward(const Tensor&, const Tensor&, float, const Tensor&, Tensor&) override {
    Unsupported("RmsNormBackward");
  }
  void DoAttentionBackward(const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                           const Tensor&, const Tensor&, Tensor&, Tensor&, Tensor&) override {
    Unsupported("AttentionBackward");
  }
  void DoSiluMulBackward(const Tensor&, const Tensor&, const Tensor&, Tensor&, Tensor&) override {
    Unsupported("SiluMulBackward");
  }
  double DoCrossEntropy(const Tensor&, const Tensor&, float, Tensor&, int64_t*) override {
    return Unsupported("CrossEntropy"), 0.0;
  }

 private:
  void Unsupported(const char* op) {
    if (error_.ok()) error_ = Internal("{}: the staging device only copies", op);
  }

  Mode mode_;
  int64_t tensors_ = 0, bytes_ = 0;
  uint64_t checksum_ = 0;
  Status error_;
};

}  // namespace baton
