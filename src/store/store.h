// Store: the object-store view of where a run keeps its checkpoints and logs. Keys are
// '/'-separated relative names ("run1/checkpoint-5/MANIFEST.json"); there are no folders, only
// keys that share a prefix. A local folder (also an ossfs/s3fs mount) and, later, S3/OSS buckets
// implement it, so the checkpoint protocol is written once against this interface and must be
// correct with nothing more than what an object store offers (atomic whole-object Put).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/env.h"
#include "base/status.h"

namespace baton {

class Store {
 public:
  virtual ~Store() = default;

  // Where the store points ("file:///data/run1"), for messages.
  virtual std::string Url() const = 0;
  // Where its bytes live, however the URL spelled it: the same for "s3://b/m?endpoint=E" and
  // "s3://b/m" with AWS_ENDPOINT_URL=E ("s3://E-authority/b/m"); keys the download cache.
  // Never holds credentials. The default is Url().
  virtual std::string Identity() const { return Url(); }

  // Writes the whole object. Atomic: a concurrent or later reader sees the old object or the new
  // one, never a torn one, even if the process dies in the middle.
  virtual Status Put(const std::string& key, std::string_view data) = 0;
  // The whole object; NotFound if there is none.
  virtual Result<std::string> Get(const std::string& key) = 0;
  // At most `len` bytes from `offset` (fewer at the end of the object).
  virtual Result<std::string> GetRange(const std::string& key, uint64_t offset, uint64_t len) = 0;
  // The object's size; NotFound if there is none.
  virtual Result<uint64_t> Head(const std::string& key) = 0;
  // Every key that starts with `prefix` (a plain string prefix, as in S3), sorted. An empty
  // result is not an error. Pagination is the backend's business.
  virtual Result<std::vector<std::string>> List(const std::string& prefix) = 0;
  // Ok if the object is already gone.
  virtual Status Delete(const std::string& key) = 0;
  // Deletes every key under `prefix`, in List order, so Ok if nothing was there. Not atomic: a
  // crash can leave some of them.
  virtual Status DeletePrefix(const std::string& prefix) = 0;

  // One object of a listing: its key, size and version tag (S3's ETag; empty where the store
  // has none).
  struct ObjectInfo {
    std::string key;
    uint64_t size = 0;
    std::string etag;
  };
  // As List, with sizes and version tags. The default lists, then Heads each key.
  virtual Result<std::vector<ObjectInfo>> ListInfo(const std::string& prefix);

  // Streams the object into the local file `path` (written to a temp file, fsync'd, renamed),
  // calling `progress(bytes_so_far, total)` now and then, first with the bytes that were on disk
  // already (a resumed download; 0 otherwise). For objects too large to hold in
  // memory (model weights). With `xxh3_64`, sets it to the XXH3-64 of the file's bytes
  // ("0123456789abcdef"), computed on the way (store/prefix_hasher.h), not by reading the file
  // again. The default Gets the whole object.
  using Progress = std::function<void(uint64_t done, uint64_t total)>;
  virtual Status GetToFile(const std::string& key, const std::string& path, Env* env,
                           const Progress& progress = nullptr, std::string* xxh3_64 = nullptr);

  // Conditional writes, for the run lease. An object's version tag (etag) changes whenever its
  // content is replaced.
  struct Versioned {
    std::string data;
    std::string etag;
  };
  // The object with its version tag; NotFound if there is none. The default Gets it with an
  // empty tag.
  virtual Result<Versioned> GetVersioned(const std::string& key);
  // Writes `data` only if the object is as the caller last saw it: `if_match` empty means "only
  // if there is no such object", otherwise "only if its etag is still `if_match`". Returns
  // FailedPrecondition when someone else wrote first, and Unimplemented where the store cannot
  // check (SupportsConditionalPut() false): callers then write and read back.
  virtual bool SupportsConditionalPut() const { return false; }
  virtual Status PutIf(const std::string& key, std::string_view data, const std::string& if_match);

  // Optional capability of filesystem stores. RenamePrefix moves everything under the "folder"
  // prefix `from` (ending in '/') to `to` in one atomic step; if `to` already holds objects they
  // are replaced and then deleted. The replacement itself is atomic where the filesystem can
  // exchange two paths; elsewhere the old folder is first moved aside, so a crash in between
  // leaves `to` empty, never mixed. Object stores return false / Unimplemented, and callers must
  // not need this for correctness, only to shrink the window in which garbage is visible.
  virtual bool SupportsRename() const { return false; }
  virtual Status RenamePrefix(const std::string& from, const std::string& to);

  // Optional capability of filesystem stores: appends to an object in place, durably (the run's
  // log gets a line at a time). Object stores cannot append: SupportsAppend() is false there and
  // callers keep the text and Put it whole.
  virtual bool SupportsAppend() const { return false; }
  virtual Status Append(const std::string& key, std::string_view data);
};

// Whether the local file `path` already holds the object `info` describes, so a copy can skip it
// (as `aws s3 sync` does, which compares sizes and times only): the same size and, where the ETag
// is S3's MD5, the same digest. A one-part ETag is the MD5 of the bytes; a multipart one
// ("<md5 of the parts' MD5s>-N") is recomputed for each part size that gives N parts among
// Baton's (16 MiB), awscli's (8 MiB) and 5, 32, 64 and 128 MiB. An object without an MD5 ETag
// (a file store, SSE-KMS) never matches: it is copied again. NotFound is false.
Result<bool> LocalFileMatches(Env* env, const std::string& path, const Store::ObjectInfo& info);

// Rejects keys that are empty, absolute, or have empty, "." or ".." components, so that no key
// can escape a filesystem store's root. `what` names the key in the message.
Status ValidateKey(std::string_view key, std::string_view what = "key");

// "a" + "b/c" -> "a/b/c"; an empty `prefix` gives `key` unchanged.
std::string JoinKey(std::string_view prefix, std::string_view key);

enum class OpenMode {
  kCreateIfMissing,  // a writer: a local folder is created
  kMustExist,        // a reader (`baton ckpt ls`): NotFound if the location is not there
};

// Opens "file:///abs/path", "file://rel/path" or a plain path as a FileStore; "s3://bucket/prefix"
// and "oss://bucket/prefix" as an S3Store (see s3_store.h for endpoint, region and credentials).
Result<std::unique_ptr<Store>> OpenStore(std::string_view url,
                                         OpenMode mode = OpenMode::kCreateIfMissing,
                                         Env* env = Env::Default());

}  // namespace baton
