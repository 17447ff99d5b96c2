#include "ckpt/manifest.h"

#include <xxhash.h>

#include "base/json.h"
#include "run/layout.h"
#include "store/store.h"

namespace baton {
namespace {

bool IsDigestHex(std::string_view s) {
  if (s.size() != 16) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

Status Bad(std::string_view source, std::string_view what) {
  return Corruption("{}: {}", source, what);
}

}  // namespace

std::string DigestHex(std::string_view data) {
  return fmt::format("{:016x}", XXH3_64bits(data.data(), data.size()));
}

Status ValidateCheckpointFileName(std::string_view name) {
  BATON_RETURN_IF_ERROR(ValidateKey(name, "checkpoint file name"));
  if (name.back() == '/') return InvalidArgument("checkpoint file name '{}' is a folder", name);
  if (name == kManifestName) {
    return InvalidArgument("checkpoint file name '{}' is reserved for the manifest", name);
  }
  return Status::Ok();
}

std::string SerializeManifest(const Manifest& manifest) {
  // ordered_json keeps the documented field order, which makes the file easy to read.
  nlohmann::ordered_json files = nlohmann::ordered_json::object();
  for (const auto& [name, entry] : manifest.files) {
    files[name] = {{"size", entry.size}, {"xxh3_64", entry.xxh3_64}};
  }
  nlohmann::ordered_json j;
  j["format"] = kManifestFormat;
  j["version"] = manifest.version;
  j["step"] = manifest.step;
  j["files"] = std::move(files);
  j["created_unix_ms"] = manifest.created_unix_ms;
  // As DumpJson (which takes a Json, whose keys are sorted): the replace handler never throws.
  return j.dump(2, ' ', /*ensure_ascii=*/false, nlohmann::ordered_json::error_handler_t::replace) +
         "\n";
}

Result<Manifest> ParseManifest(std::string_view text, std::string_view source) {
  Result<Json> parsed = ParseJson(text, source);
  if (!parsed.ok()) return Corruption("{}", parsed.status().message());
  const Json& j = *parsed;
  if (!j.is_object()) return Bad(source, "not a JSON object");
  auto format = j.find("format");
  if (format == j.end() || !format->is_string() || format->get<std::string>() != kManifestFormat) {
    return Bad(source, fmt::format("'format' is not \"{}\"", kManifestFormat));
  }
  Manifest m;
  Result<int64_t> version = JsonInt(j, "version", source);
  if (!version.ok() || *version < 1) return Bad(source, "'version' is not an integer >= 1");
  // A newer version may change what makes a checkpoint valid: this code cannot vouch for it.
  if (*version != kManifestVersion) {
    return Bad(source, fmt::format("manifest version {} is newer than this baton understands ({})",
                                   *version, kManifestVersion));
  }
  m.version = *version;
  Result<int64_t> step = JsonInt(j, "step", source);
  if (!step.ok() || *step < 0) return Bad(source, "'step' is not an integer >= 0");
  m.step = *step;
  auto files = j.find("files");
  if (files == j.end() || !files->is_object()) return Bad(source, "'files' is not an object");
  for (const auto& [name, entry] : files->items()) {
    if (!ValidateCheckpointFileName(name).ok()) {
      return Bad(source, fmt::format("bad file name '{}'", name));
    }
    if (!entry.is_object()) return Bad(source, fmt::format("files['{}'] is not an object", name));
    auto size = entry.find("size");
    if (size == entry.end() || !size->is_number_unsigned()) {
      return Bad(source, fmt::format("files['{}'].size is not an integer >= 0", name));
    }
    auto digest = entry.find("xxh3_64");
    if (digest == entry.end() || !digest->is_string() || !IsDigestHex(digest->get<std::string>())) {
      return Bad(source, fmt::format("files['{}'].xxh3_64 is not 16 lowercase hex digits", name));
    }
    m.files[name] = {size->get<uint64_t>(), digest->get<std::string>()};
  }
  if (j.contains("created_unix_ms")) {
    Result<int64_t> created = JsonInt(j, "created_unix_ms", source);
    if (!created.ok()) return Bad(source, "'created_unix_ms' is not an integer");
    m.created_unix_ms = *created;
  }
  return m;
}

}  // namespace baton
