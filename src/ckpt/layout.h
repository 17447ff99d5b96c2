// Names of the objects of a run, as DESIGN.md "Checkpoint protocol" lays them out:
//   <run>/checkpoint-<step>/{<files>..., MANIFEST.json}   a checkpoint (MANIFEST.json last)
//   <run>/checkpoint-<step>.<anything>/                   leftovers of an interrupted commit
//   <run>/COMPLETE                                        the run finished
// Anything else in the run (runs/, logging.jsonl, lease.json, ...) is not ours to touch.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace baton {

inline constexpr std::string_view kManifestName = "MANIFEST.json";
inline constexpr std::string_view kCompleteMarkerName = "COMPLETE";

// "checkpoint-<step>", the name HF/ms-swift use, so PEFT and vLLM find adapters where they look.
std::string CheckpointDir(int64_t step);
// The step of a checkpoint folder name: "checkpoint-12" -> 12. Names that are anything else
// ("checkpoint-12.partial-ab", "checkpoint-012", "checkpoint-", "runs") -> nullopt, so that each
// step has exactly one folder name.
std::optional<int64_t> ParseCheckpointDir(std::string_view name);
// The step of a leftover folder name: "checkpoint-12.partial-ab" -> 12; anything else -> nullopt.
std::optional<int64_t> ParseLeftoverDir(std::string_view name);

}  // namespace baton
