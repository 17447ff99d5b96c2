// libFuzzer target: dataset text as `--dataset` reads it (the first byte picks JSON Lines or a
// JSON array): rows in the messages, sharegpt and alpaca shapes, with roles, tools and images.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "data/dataset_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  auto format = (data[0] & 1) ? baton::DatasetFormat::kJson : baton::DatasetFormat::kJsonl;
  (void)baton::ParseDatasetText(text, "fuzz.jsonl", format);
  return 0;
}
