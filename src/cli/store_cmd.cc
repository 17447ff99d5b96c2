// baton store ls|cp: look into a bucket and copy files to and from it, with the same URLs,
// credentials and retries as training uses (s3://bucket/prefix?endpoint=..., oss://...).
//   ls URL         every object under URL/ with its size
//   cp SRC DST     local file or folder -> store URL (folders recursively), or store URL (one
//                  object or a folder) -> local path
#include <cstdio>
#include <map>

#include "base/env.h"
#include "base/strings.h"
#include "cli/commands.h"
#include "store/cache.h"
#include "store/progress_bar.h"
#include "store/store.h"

namespace baton::cli {
namespace {

int RunLs(const std::string& url) {
  Result<std::unique_ptr<Store>> store = OpenStore(url, OpenMode::kMustExist);
  if (!store.ok()) return ReportError(store.status());
  Result<std::vector<Store::ObjectInfo>> objects = (*store)->ListInfo("");
  if (!objects.ok()) return ReportError(objects.status());
  uint64_t total = 0;
  for (const Store::ObjectInfo& o : *objects) {
    std::printf("%14llu  %s\n", static_cast<unsigned long long>(o.size), o.key.c_str());
    total += o.size;
  }
  std::fprintf(stderr, "%zu object%s, %s\n", objects->size(), objects->size() == 1 ? "" : "s",
               HumanBytes(static_cast<double>(total)).c_str());
  return 0;
}

// Every file under `dir` as a path relative to it, sorted.
Status ListFiles(Env* env, const std::string& dir, const std::string& rel,
                 std::vector<std::string>* out) {
  BATON_ASSIGN_OR_RETURN(std::vector<std::string> names, env->ListDir(JoinPath(dir, rel)));
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    std::string r = rel.empty() ? name : rel + "/" + name;
    if (env->IsDirectory(JoinPath(dir, r))) {
      BATON_RETURN_IF_ERROR(ListFiles(env, dir, r, out));
    } else {
      out->push_back(r);
    }
  }
  return Status::Ok();
}

Status Upload(Env* env, const std::string& src, const std::string& dst) {
  if (!env->FileExists(src)) return NotFound("{}: no such file or folder", src);
  std::vector<std::string> files;
  std::string url = dst, base = src;
  if (env->IsDirectory(src)) {
    BATON_RETURN_IF_ERROR(ListFiles(env, src, "", &files));
  } else {
    // One file goes to the URL itself: its parent is the store, its last name the key.
    auto split = SplitStoreUrl(dst);
    if (!split) return InvalidArgument("{}: name an object under the bucket", dst);
    url = split->first;
    files.push_back(split->second);
  }
  BATON_ASSIGN_OR_RETURN(std::unique_ptr<Store> store, OpenStore(url));
  // What the destination holds already: an object of the same size and ETag is not sent again.
  BATON_ASSIGN_OR_RETURN(std::vector<Store::ObjectInfo> there, store->ListInfo(""));
  std::map<std::string, Store::ObjectInfo> existing;
  for (Store::ObjectInfo& o : there) existing[o.key] = std::move(o);
  uint64_t total = 0, skipped = 0;
  for (const std::string& f : files) {
    std::string path = env->IsDirectory(src) ? JoinPath(src, f) : src;
    if (auto it = existing.find(f); it != existing.end()) {
      BATON_ASSIGN_OR_RETURN(bool same, LocalFileMatches(env, path, it->second));
      if (same) {
        std::fprintf(stderr, "unchanged %s (same size and ETag): not copied\n",
                     JoinKey(store->Url(), f).c_str());
        ++skipped;
        continue;
      }
    }
    BATON_ASSIGN_OR_RETURN(std::shared_ptr<MappedFile> data, env->MapFile(path));
    std::string_view bytes(reinterpret_cast<const char*>(data->data()), data->size());
    BATON_RETURN_IF_ERROR(store->Put(f, bytes).WithContext(fmt::format("uploading {}", path)));
    std::fprintf(stderr, "uploaded %s -> %s (%s)\n", path.c_str(), JoinKey(store->Url(), f).c_str(),
                 HumanBytes(static_cast<double>(bytes.size())).c_str());
    total += bytes.size();
  }
  std::fprintf(stderr, "%zu file%s: %zu uploaded (%s), %llu unchanged\n", files.size(),
               files.size() == 1 ? "" : "s", files.size() - skipped,
               HumanBytes(static_cast<double>(total)).c_str(),
               static_cast<unsigned long long>(skipped));
  return Status::Ok();
}

Status Download(Env* env, const std::string& src, const std::string& dst) {
  BATON_ASSIGN_OR_RETURN(std::unique_ptr<Store> store, OpenStore(src, OpenMode::kMustExist));
  BATON_ASSIGN_OR_RETURN(std::vector<Store::ObjectInfo> objects, store->ListInfo(""));
  std::vector<std::pair<std::string, std::string>> jobs;  // key -> local path
  if (!objects.empty()) {
    for (const Store::ObjectInfo& o : objects) {
      // A key becomes a path under `dst`: none may climb out of it.
      BATON_RETURN_IF_ERROR(
          ValidateKey(o.key, fmt::format("object name under {}", RedactUrl(src))));
      jobs.emplace_back(o.key, JoinPath(dst, o.key));
    }
  } else {
    auto split = SplitStoreUrl(src);
    if (!split) return NotFound("{}: the bucket holds no objects", RedactUrl(src));
    BATON_ASSIGN_OR_RETURN(store, OpenStore(split->first, OpenMode::kMustExist));
    BATON_ASSIGN_OR_RETURN(uint64_t size, store->Head(split->second));
    (void)size;
    jobs.emplace_back(split->second, env->IsDirectory(dst) ? JoinPath(dst, split->second) : dst);
  }
  if (objects.empty()) {
    BATON_ASSIGN_OR_RETURN(objects, store->ListInfo(jobs[0].first));
    std::erase_if(objects, [&](const Store::ObjectInfo& o) { return o.key != jobs[0].first; });
    if (objects.empty()) objects.push_back({jobs[0].first, 0, ""});
  }
  uint64_t moved = 0, skipped = 0, skipped_bytes = 0;
  for (size_t i = 0; i < jobs.size(); ++i) {
    const auto& [key, path] = jobs[i];
    const Store::ObjectInfo& info = objects[i];
    const std::string from = JoinKey(store->Url(), key);
    // As `aws s3 sync`: what is already here is not copied again (checked by digest, not time).
    BATON_ASSIGN_OR_RETURN(bool same, LocalFileMatches(env, path, info));
    if (same) {
      std::fprintf(stderr, "unchanged %s (%s, same size and ETag): not copied\n", path.c_str(),
                   HumanBytes(static_cast<double>(info.size)).c_str());
      ++skipped;
      skipped_bytes += info.size;
      continue;
    }
    size_t slash = path.rfind('/');
    if (slash != std::string::npos && slash > 0) {
      BATON_RETURN_IF_ERROR(env->CreateDirs(path.substr(0, slash)));
    }
    ProgressBar bar("downloading", from, info.size);
    bool first = true;
    uint64_t resumed = 0;
    BATON_RETURN_IF_ERROR(store->GetToFile(key, path, env, [&](uint64_t done, uint64_t total) {
      if (first && done > 0) {  // an interrupted download of this object, resumed
        resumed = done;
        std::fprintf(stderr, "resuming %s: %s of %s already downloaded\n", path.c_str(),
                     HumanBytes(static_cast<double>(done)).c_str(),
                     HumanBytes(static_cast<double>(total)).c_str());
        bar.AddAlready(done);
      }
      first = false;
      bar.Update(done);
    }));
    bar.Update(info.size, /*force=*/true);
    moved += info.size - std::min(resumed, info.size);
    std::fprintf(stderr, "downloaded %s -> %s\n", from.c_str(), path.c_str());
  }
  std::fprintf(stderr, "%zu object%s: %zu downloaded (%s moved), %llu unchanged (%s)\n",
               jobs.size(), jobs.size() == 1 ? "" : "s", jobs.size() - skipped,
               HumanBytes(static_cast<double>(moved)).c_str(),
               static_cast<unsigned long long>(skipped),
               HumanBytes(static_cast<double>(skipped_bytes)).c_str());
  return Status::Ok();
}

}  // namespace

void AddStoreCommand(CLI::App& root, Action& action) {
  CLI::App* cmd = root.add_subcommand(
      "store", "list and copy objects of a run's store (s3://, oss://, file://)");
  cmd->require_subcommand(1);
  auto url = std::make_shared<std::string>();
  CLI::App* ls = cmd->add_subcommand("ls", "every object under URL/, with its size");
  ls->add_option("url", *url, "store URL")->required();
  ls->callback([&action, url] { action = [url] { return RunLs(*url); }; });

  auto src = std::make_shared<std::string>(), dst = std::make_shared<std::string>();
  CLI::App* cp = cmd->add_subcommand(
      "cp",
      "copy a local file or folder to a store URL, or a store object or folder to a local path");
  cp->add_option("src", *src, "source: local path or store URL")->required();
  cp->add_option("dst", *dst, "destination: store URL or local path")->required();
  cp->callback([&action, src, dst] {
    action = [src, dst] {
      Env* env = Env::Default();
      bool from_store = IsRemoteUrl(*src) || src->starts_with("file://");
      bool to_store = IsRemoteUrl(*dst) || dst->starts_with("file://");
      Status s;
      if (from_store == to_store) {
        s = InvalidArgument("store cp: exactly one of '{}' and '{}' must be a store URL", *src,
                            *dst);
      } else if (to_store) {
        s = Upload(env, *src, *dst);
      } else {
        s = Download(env, *src, *dst);
      }
      return s.ok() ? 0 : ReportError(s);
    };
  });
}

}  // namespace baton::cli
