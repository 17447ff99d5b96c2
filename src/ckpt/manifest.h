// MANIFEST.json: the commit record of a checkpoint, written after every file it names.
//   {"format": "baton-checkpoint", "version": 1, "step": 93,
//    "files": {"adapter_model.safetensors": {"size": 123, "xxh3_64": "0123456789abcdef"}, ...},
//    "created_unix_ms": 1700000000000}
// Fields are only ever appended and readers ignore fields they do not know; but a manifest of a
// version other than kManifestVersion is refused (Corruption naming both versions): a newer
// version may change what makes a checkpoint valid, which this code cannot check.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "base/status.h"

namespace baton {

inline constexpr std::string_view kManifestFormat = "baton-checkpoint";
inline constexpr int64_t kManifestVersion = 1;

struct ManifestEntry {
  uint64_t size = 0;
  std::string xxh3_64;  // 16 lowercase hex digits
};

struct Manifest {
  int64_t version = kManifestVersion;
  int64_t step = 0;
  std::map<std::string, ManifestEntry> files;
  int64_t created_unix_ms = 0;
};

// XXH3-64 of `data` as 16 lowercase hex digits.
std::string DigestHex(std::string_view data);

// A file name a checkpoint may hold: a valid store key relative to the checkpoint folder (so
// "sub/x.bin" is fine, "../x" is not), and not the manifest itself.
Status ValidateCheckpointFileName(std::string_view name);

std::string SerializeManifest(const Manifest& manifest);
// Corruption (naming `source`) when the text is not a well-formed manifest.
Result<Manifest> ParseManifest(std::string_view text, std::string_view source);

}  // namespace baton
