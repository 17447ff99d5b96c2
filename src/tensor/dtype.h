// Element types and their conversions. Compute on CPU is f32; bf16/f16 are storage formats.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

#include "base/status.h"

namespace baton {

enum class DType : uint8_t { kF32, kBF16, kF16, kI64, kI32, kU8, kBool };

size_t DTypeSize(DType dtype);
// Safetensors spelling: "F32", "BF16", "F16", "I64", "I32", "U8", "BOOL".
std::string_view DTypeName(DType dtype);
Result<DType> DTypeFromName(std::string_view name);
// HF config spelling: "float32", "bfloat16", "float16" (also "fp32", "bf16", "fp16").
Result<DType> DTypeFromTorchName(std::string_view name);
std::string_view DTypeTorchName(DType dtype);
bool IsFloating(DType dtype);

inline float BF16ToF32(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Round to nearest even, as PyTorch does; NaN stays NaN.
inline uint16_t F32ToBF16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);
  uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

float F16ToF32(uint16_t h);
uint16_t F32ToF16(float f);

// Converts `n` floating elements of `src_dtype` at `src` into f32 at `dst`.
void ConvertToF32(DType src_dtype, const void* src, float* dst, size_t n);
// Converts `n` f32 values into `dst_dtype` (floating) at `dst`.
void ConvertFromF32(const float* src, DType dst_dtype, void* dst, size_t n);

}  // namespace baton
