// libFuzzer target: the JSON documents Baton reads from a model folder or a bucket. The first
// byte picks the reader, the rest is the document: config.json, a checkpoint's manifest and
// trainer_state.json, the lease, a heartbeat, COMPLETE, stop and scale-to-zero requests, the
// fleet ledger. Each must answer with a Status or a value; an exception, an abort, a sanitizer
// report or an allocation beyond libFuzzer's limit is a finding.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/json.h"
#include "ckpt/lease.h"
#include "ckpt/manifest.h"
#include "model/config.h"
#include "run/layout.h"
#include "train/trainer_state.h"

namespace {

// Parses with the project's JSON reader first, as the callers do, then the typed reader.
template <typename T>
void FromJsonDoc(std::string_view text) {
  auto j = baton::ParseJson(text, "fuzz.json");
  if (!j.ok()) return;
  (void)T::FromJson(*j, "fuzz.json");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::string source = "fuzz.json";
  switch (data[0] % 9) {
    case 0: FromJsonDoc<baton::ModelConfig>(text); break;
    case 1: (void)baton::ParseManifest(text, source); break;
    case 2: FromJsonDoc<baton::TrainerState>(text); break;
    case 3: (void)baton::LeaseRecord::Parse(text, source); break;
    case 4: (void)baton::Heartbeat::Parse(text, source); break;
    case 5: (void)baton::CompleteMarker::Parse(text, source); break;
    case 6: (void)baton::StopRequest::Parse(text, source); break;
    case 7: (void)baton::ScaleToZeroRequest::Parse(text, source); break;
    case 8: (void)baton::FleetLedger::Parse(text, source); break;
  }
  return 0;
}
