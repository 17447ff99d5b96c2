// Tensor: a shape, a dtype and a reference-counted block of memory on one device.
// Tensors are always contiguous (row-major); Reshape and row slices share storage.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tensor/dtype.h"

namespace baton {

enum class Device : uint8_t { kCpu, kCuda };

using Shape = std::vector<int64_t>;
std::string ShapeString(const Shape& shape);  // "[2, 3]"
int64_t NumElements(const Shape& shape);

// A block of device memory. `release` frees it (or drops a file mapping it belongs to).
struct Storage {
  void* data = nullptr;
  size_t bytes = 0;
  Device device = Device::kCpu;
  std::function<void(void*)> release;
  ~Storage() {
    if (release) release(data);
  }
};

class Tensor {
 public:
  Tensor() = default;
  // Uninitialised CPU memory, 64-byte aligned.
  static Tensor Empty(Shape shape, DType dtype);
  static Tensor Zeros(Shape shape, DType dtype);
  static Tensor FromF32(const std::vector<float>& values, Shape shape);
  static Tensor FromI32(const std::vector<int32_t>& values, Shape shape);
  // Wraps memory owned elsewhere; `keep_alive` is held as long as the tensor lives.
  static Tensor Wrap(void* data, Shape shape, DType dtype, std::shared_ptr<void> keep_alive);
  // A tensor over `storage` (any device; a backend allocates its device memory this way).
  static Tensor FromStorage(std::shared_ptr<Storage> storage, Shape shape, DType dtype);

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  // dim(-1) is the last dimension.
  int64_t dim(int i) const { return shape_[i < 0 ? i + rank() : i]; }
  int64_t numel() const { return NumElements(shape_); }
  DType dtype() const { return dtype_; }
  Device device() const { return storage_ ? storage_->device : Device::kCpu; }
  size_t nbytes() const { return static_cast<size_t>(numel()) * DTypeSize(dtype_); }

  void* raw() const { return static_cast<char*>(storage_->data) + offset_; }
  template <typename T>
  T* data() const {
    return static_cast<T*>(raw());
  }
  float* f32() const { return data<float>(); }

  // Same storage, new shape with equal element count (one dim may be -1).
  Tensor Reshape(Shape shape) const;
  // Rows [begin, end) along dim 0, sharing storage.
  Tensor Slice(int64_t begin, int64_t end) const;
  // The methods below read or write the elements from the CPU: host tensors only.
  // A deep copy converted to f32 (floating types) on the CPU.
  Tensor ToF32() const;
  // A deep copy converted from f32 to `dtype`.
  Tensor ConvertTo(DType dtype) const;
  Tensor Clone() const;
  // Element i as double, whatever the dtype (for tests and diagnostics).
  double At(int64_t i) const;
  std::string Describe() const;  // "F32[2, 3]"

 private:
  std::shared_ptr<Storage> storage_;
  size_t offset_ = 0;
  Shape shape_;
  DType dtype_ = DType::kF32;
};

}  // namespace baton
