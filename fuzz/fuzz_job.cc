// libFuzzer target: a job file (YAML or JSON, with its fleet section), as `baton run`, `baton
// fleet` and every agent read it, possibly from a bucket. Alias bombs, duplicate keys, huge or
// non-finite numbers and wrongly typed fields must be refused with file:line:col, in bounded
// memory and time.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "job/job_spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)baton::ParseJobSpec(text, "fuzz.yaml");
  return 0;
}
