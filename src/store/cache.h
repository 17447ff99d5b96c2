// The local cache of models, datasets and adapters named by store URLs.
//
// `--model s3://bkt/models/qwen2-7b` on a fresh instance downloads the folder once into the
// cache (EnvVar::kCacheDir, default ~/.cache/baton) with a progress bar; the next attempt on the
// same machine (or a machine whose disk image holds the cache) downloads nothing. Each cache entry
// records, for every object, the size and version tag (ETag) the store listed and the xxh3-64 of
// the bytes written; an entry is reused only when the store still lists the same objects with
// the same sizes and tags and every local file still has its recorded digest, so a changed model
// in the bucket, a torn download or a damaged disk is downloaded again, never used.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "base/env.h"
#include "base/status.h"

namespace baton {

// Whether `s` names an object store ("s3://", "oss://") rather than a local path.
bool IsRemoteUrl(std::string_view s);

// Where the time of FetchToCache went (added to, so one record can sum several fetches).
struct FetchStats {
  // Fetching the objects the cache lacked; their digests are computed on the way, inside it.
  double download_seconds = 0;
  // Checking the digests of what the cache held already (and of downloads whose store could not
  // compute one on the way): what a warm cache costs.
  double digest_seconds = 0;
  uint64_t bytes_downloaded = 0, bytes_cached = 0;
};

struct CacheOptions {
  // Empty: EnvVar::kCacheDir, else $HOME/.cache/baton.
  std::string cache_dir;
  // Progress lines (default: stderr; a bar redrawn in place when stderr is a terminal).
  std::function<void(const std::string&)> print;
  // When set, the fetch adds its times and bytes here.
  FetchStats* stats = nullptr;
};

// The local path holding what `url` names: the URL itself (file:// stripped) when it is local;
// otherwise the cached copy of the folder (every object under the URL's prefix) or of the single
// object the URL names, downloaded if the cache does not hold it yet. Errors name the URL and
// the object.
Result<std::string> FetchToCache(std::string_view url, const CacheOptions& options = {},
                                 Env* env = Env::Default());

// The folder of an entry under `cache_dir`, for `source`, the Store::Identity of what it copies
// (so one model reached through ?endpoint= or AWS_ENDPOINT_URL is cached once): named by a
// SHA-256 of it. Neither the name nor the entry's record (entry.json: the source redacted, its
// SHA-256 and the files) holds a secret a URL carries (user:pass@, a token in the query).
std::string CacheEntryDir(const std::string& cache_dir, std::string_view source);

// "s3://bkt/a/b?x=y" -> {"s3://bkt/a?x=y", "b"}: the store URL of the parent (the query, with
// endpoint and region, stays with it) and the last name. nullopt for a bare bucket.
std::optional<std::pair<std::string, std::string>> SplitStoreUrl(std::string_view url);

// Formats "1.2 GB", "356.0 MB", "12.0 kB", "17 B".
std::string HumanBytes(double bytes);

}  // namespace baton
