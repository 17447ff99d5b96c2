#include "tensor/tensor.h"

#include <cstdlib>
#include <stdexcept>

namespace baton {

std::string ShapeString(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

int64_t NumElements(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Tensor Tensor::Empty(Shape shape, DType dtype) {
  Tensor t;
  size_t bytes = static_cast<size_t>(NumElements(shape)) * DTypeSize(dtype);
  size_t alloc = (bytes + 63) / 64 * 64;
  if (alloc == 0) alloc = 64;
  void* p = std::aligned_alloc(64, alloc);
  if (p == nullptr) throw std::bad_alloc();
  t.storage_ = std::make_shared<Storage>();
  t.storage_->data = p;
  t.storage_->bytes = bytes;
  t.storage_->release = [](void* q) { std::free(q); };
  t.shape_ = std::move(shape);
  t.dtype_ = dtype;
  return t;
}

Tensor Tensor::Zeros(Shape shape, DType dtype) {
  Tensor t = Empty(std::move(shape), dtype);
  std::memset(t.raw(), 0, t.nbytes());
  return t;
}

Tensor Tensor::FromF32(const std::vector<float>& values, Shape shape) {
  Tensor t = Empty(std::move(shape), DType::kF32);
  if (static_cast<size_t>(t.numel()) != values.size()) {
    throw std::invalid_argument("Tensor::FromF32: value count does not match shape");
  }
  std::memcpy(t.raw(), values.data(), t.nbytes());
  return t;
}

Tensor Tensor::FromI32(const std::vector<int32_t>& values, Shape shape) {
  Tensor t = Empty(std::move(shape), DType::kI32);
  if (static_cast<size_t>(t.numel()) != values.size()) {
    throw std::invalid_argument("Tensor::FromI32: value count does not match shape");
  }
  std::memcpy(t.raw(), values.data(), t.nbytes());
  return t;
}

Tensor Tensor::Wrap(void* data, Shape shape, DType dtype, std::shared_ptr<void> keep_alive) {
  Tensor t;
  t.storage_ = std::make_shared<Storage>();
  t.storage_->data = data;
  t.storage_->bytes = static_cast<size_t>(NumElements(shape)) * DTypeSize(dtype);
  t.storage_->release = [keep_alive](void*) mutable { keep_alive.reset(); };
  t.shape_ = std::move(shape);
  t.dtype_ = dtype;
  return t;
}

Tensor Tensor::FromStorage(std::shared_ptr<Storage> storage, Shape shape, DType dtype) {
  Tensor t;
  t.storage_ = std::move(storage);
  t.shape_ = std::move(shape);
  t.dtype_ = dtype;
  return t;
}

Tensor Tensor::Reshape(Shape shape) const {
  int64_t known = 1;
  int infer = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      infer = static_cast<int>(i);
    } else {
      known *= shape[i];
    }
  }
  if (infer >= 0 && known != 0) shape[infer] = numel() / known;
  if (NumElements(shape) != numel()) {
    throw std::invalid_argument("Tensor::Reshape: " + ShapeString(shape_) + " to " +
                                ShapeString(shape));
  }
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::Slice(int64_t begin, int64_t end) const {
  if (rank() == 0 || begin < 0 || end > shape_[0] || begin > end) {
    throw std::out_of_range("Tensor::Slice out of range");
  }
  Tensor t = *this;
  int64_t row = numel() / (shape_[0] == 0 ? 1 : shape_[0]);
  t.offset_ += static_cast<size_t>(begin * row) * DTypeSize(dtype_);
  t.shape_[0] = end - begin;
  return t;
}

Tensor Tensor::ToF32() const {
  Tensor t = Empty(shape_, DType::kF32);
  if (IsFloating(dtype_)) {
    ConvertToF32(dtype_, raw(), t.f32(), static_cast<size_t>(numel()));
  } else {
    for (int64_t i = 0; i < numel(); ++i) t.f32()[i] = static_cast<float>(At(i));
  }
  return t;
}

Tensor Tensor::ConvertTo(DType dtype) const {
  if (dtype_ != DType::kF32) return ToF32().ConvertTo(dtype);
  Tensor t = Empty(shape_, dtype);
  ConvertFromF32(f32(), dtype, t.raw(), static_cast<size_t>(numel()));
  return t;
}

Tensor Tensor::Clone() const {
  Tensor t = Empty(shape_, dtype_);
  std::memcpy(t.raw(), raw(), nbytes());
  return t;
}

double Tensor::At(int64_t i) const {
  switch (dtype_) {
    case DType::kF32:
      return data<float>()[i];
    case DType::kBF16:
      return BF16ToF32(data<uint16_t>()[i]);
    case DType::kF16:
      return F16ToF32(data<uint16_t>()[i]);
    case DType::kI64:
      return static_cast<double>(data<int64_t>()[i]);
    case DType::kI32:
      return data<int32_t>()[i];
    case DType::kU8:
    case DType::kBool:
      return data<uint8_t>()[i];
  }
  return 0;
}

std::string Tensor::Describe() const {
  return std::string(DTypeName(dtype_)) + ShapeString(shape_) +
         (device() == Device::kCuda ? "@cuda" : "");
}

}  // namespace baton
