// libFuzzer target: a safetensors file as it comes from a bucket or a model folder. Every header
// must be refused with a Status or accepted whole; an accepted file hands out every tensor with a
// shape whose element count and byte size fit the file (no overflow, no read past the end).
#include <cstddef>
#include <cstdint>
#include <string>

#include "model/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = baton::SafetensorsFile::FromBytes(
      std::string(reinterpret_cast<const char*>(data), size), "fuzz.safetensors");
  if (!file.ok()) return 0;
  for (const std::string& name : file->Names()) {
    auto tensor = file->Get(name);
    if (!tensor.ok()) continue;
    // Touch the first and last byte so a tensor that points past the mapping is caught by ASan.
    size_t bytes = tensor->nbytes();
    if (bytes > 0) {
      const auto* p = static_cast<const volatile uint8_t*>(tensor->raw());
      (void)p[0];
      (void)p[bytes - 1];
    }
  }
  return 0;
}
