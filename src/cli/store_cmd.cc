// baton store ls|cp|rm: look into a bucket, copy files to and from it, delete from it, with the
// same URLs, credentials and retries as training uses (s3://bucket/prefix?endpoint=..., oss://).
//   ls URL         every object under URL/ with its size
//   cp SRC DST     local file or folder -> store URL (folders recursively), or store URL (one
//                  object or a folder) -> local path; what the other side holds already is
//                  skipped; --include/--exclude GLOB select, --dryrun only says what it would do
//   rm URL         one object, or with --recursive every object under URL/ (same filters)
// The filters are awscli's: every file is in, then each --include or --exclude, in the order
// given, decides for the paths it matches (relative to the folder; '*' also matches '/'), so
// `--exclude '*' --include '*.json'` copies only the JSON files.
#include <fnmatch.h>

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

struct CopyOptions {
  bool dryrun = false;
  std::vector<std::pair<bool, std::string>> filters;  // (include?, glob), in command-line order
};

// Whether `rel` (a path relative to the copied folder) is selected by the filters.
bool Selected(const CopyOptions& o, const std::string& rel) {
  bool in = true;
  for (const auto& [include, glob] : o.filters) {
    if (fnmatch(glob.c_str(), rel.c_str(), 0) == 0) in = include;
  }
  return in;
}

// --include and --exclude as given, interleaved: CLI11 keeps each option's values apart, and
// its parse order says which came when.
void CollectFilters(CLI::App* app, CLI::Option* include, CLI::Option* exclude, CopyOptions* o) {
  size_t next_include = 0, next_exclude = 0;
  o->filters.clear();
  for (CLI::Option* opt : app->parse_order()) {
    if (opt == include && next_include < include->results().size()) {
      o->filters.emplace_back(true, include->results()[next_include++]);
    } else if (opt == exclude && next_exclude < exclude->results().size()) {
      o->filters.emplace_back(false, exclude->results()[next_exclude++]);
    }
  }
}

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

Status Upload(Env* env, const std::string& src, const std::string& dst, const CopyOptions& opts) {
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
  uint64_t filtered = 0;
  for (const std::string& f : files) {
    std::string path = env->IsDirectory(src) ? JoinPath(src, f) : src;
    if (!Selected(opts, f)) {
      ++filtered;
      continue;
    }
    if (auto it = existing.find(f); it != existing.end()) {
      BATON_ASSIGN_OR_RETURN(bool same, LocalFileMatches(env, path, it->second));
      if (same) {
        std::fprintf(stderr, "unchanged %s (same size and ETag): not copied\n",
                     JoinKey(store->Url(), f).c_str());
        ++skipped;
        continue;
      }
    }
    if (opts.dryrun) {
      std::printf("(dryrun) upload: %s -> %s\n", path.c_str(), JoinKey(store->Url(), f).c_str());
      continue;
    }
    BATON_ASSIGN_OR_RETURN(std::shared_ptr<MappedFile> data, env->MapFile(path));
    std::string_view bytes(reinterpret_cast<const char*>(data->data()), data->size());
    BATON_RETURN_IF_ERROR(store->Put(f, bytes).WithContext(fmt::format("uploading {}", path)));
    std::fprintf(stderr, "uploaded %s -> %s (%s)\n", path.c_str(), JoinKey(store->Url(), f).c_str(),
                 HumanBytes(static_cast<double>(bytes.size())).c_str());
    total += bytes.size();
  }
  if (opts.dryrun) return Status::Ok();
  std::fprintf(stderr, "%zu file%s: %zu uploaded (%s), %llu unchanged%s\n", files.size(),
               files.size() == 1 ? "" : "s", files.size() - skipped - filtered,
               HumanBytes(static_cast<double>(total)).c_str(),
               static_cast<unsigned long long>(skipped),
               filtered ? fmt::format(", {} left out by the filters", filtered).c_str() : "");
  return Status::Ok();
}

// What a store URL names: a folder (the objects under URL/, keys relative to it) or one object
// (then `store` is its parent's and `objects` holds that one key). A file:// URL of a file is one
// object: only its folder is a store to open. NotFound when it names neither.
struct Named {
  std::unique_ptr<Store> store;
  std::vector<Store::ObjectInfo> objects;
  bool folder = false;
};
Result<Named> OpenNamed(const std::string& url) {
  Named n;
  Result<std::unique_ptr<Store>> opened = OpenStore(url, OpenMode::kMustExist);
  if (opened.ok()) {
    n.store = std::move(opened).value();
    BATON_ASSIGN_OR_RETURN(n.objects, n.store->ListInfo(""));
    n.folder = !n.objects.empty();
    if (n.folder) return n;
  } else if (IsRemoteUrl(url) || (opened.status().code() != StatusCode::kNotFound &&
                                  opened.status().code() != StatusCode::kInvalidArgument)) {
    return opened.status();  // a bucket's error; a file:// path that is no folder is looked up
  }
  auto split = SplitStoreUrl(url);
  if (!split) {
    return opened.ok() ? NotFound("{}: the bucket holds no objects", RedactUrl(url))
                       : opened.status();
  }
  BATON_ASSIGN_OR_RETURN(n.store, OpenStore(split->first, OpenMode::kMustExist));
  // One listing of the parent under the name gives the object with its size and ETag.
  BATON_ASSIGN_OR_RETURN(n.objects, n.store->ListInfo(split->second));
  std::erase_if(n.objects, [&](const Store::ObjectInfo& o) { return o.key != split->second; });
  if (n.objects.empty()) return NotFound("{}: no such object or folder", RedactUrl(url));
  return n;
}

Status Download(Env* env, const std::string& src, const std::string& dst, const CopyOptions& opts) {
  BATON_ASSIGN_OR_RETURN(Named named, OpenNamed(src));
  std::unique_ptr<Store> store = std::move(named.store);
  const std::vector<Store::ObjectInfo>& objects = named.objects;
  std::vector<std::pair<std::string, std::string>> jobs;  // key -> local path
  for (const Store::ObjectInfo& o : objects) {
    // A key becomes a path under `dst`: none may climb out of it.
    BATON_RETURN_IF_ERROR(ValidateKey(o.key, fmt::format("object name under {}", RedactUrl(src))));
    if (named.folder) {
      jobs.emplace_back(o.key, JoinPath(dst, o.key));
    } else {
      jobs.emplace_back(o.key, env->IsDirectory(dst) ? JoinPath(dst, o.key) : dst);
    }
  }
  uint64_t moved = 0, skipped = 0, skipped_bytes = 0, filtered = 0;
  for (size_t i = 0; i < jobs.size(); ++i) {
    const auto& [key, path] = jobs[i];
    const Store::ObjectInfo& info = objects[i];
    const std::string from = JoinKey(store->Url(), key);
    if (!Selected(opts, key)) {
      ++filtered;
      continue;
    }
    // As `aws s3 sync`: what is already here is not copied again (checked by digest, not time).
    BATON_ASSIGN_OR_RETURN(bool same, LocalFileMatches(env, path, info));
    if (same) {
      std::fprintf(stderr, "unchanged %s (%s, same size and ETag): not copied\n", path.c_str(),
                   HumanBytes(static_cast<double>(info.size)).c_str());
      ++skipped;
      skipped_bytes += info.size;
      continue;
    }
    if (opts.dryrun) {
      std::printf("(dryrun) download: %s -> %s\n", from.c_str(), path.c_str());
      continue;
    }
    size_t slash = path.rfind('/');
    if (slash != std::string::npos && slash > 0) {
      BATON_RETURN_IF_ERROR(env->CreateDirs(path.substr(0, slash)));
    }
    ProgressBar bar("downloading", from, info.size);
    uint64_t resumed = 0;
    BATON_RETURN_IF_ERROR(
        store->GetToFile(key, path, env, bar.ForObject(0, [&](uint64_t done, uint64_t total) {
          resumed = done;
          std::fprintf(stderr, "resuming %s: %s of %s already downloaded\n", path.c_str(),
                       HumanBytes(static_cast<double>(done)).c_str(),
                       HumanBytes(static_cast<double>(total)).c_str());
        })));
    bar.Update(info.size, /*force=*/true);
    moved += info.size - std::min(resumed, info.size);
    std::fprintf(stderr, "downloaded %s -> %s\n", from.c_str(), path.c_str());
  }
  if (opts.dryrun) return Status::Ok();
  std::fprintf(stderr, "%zu object%s: %zu downloaded (%s moved), %llu unchanged (%s)%s\n",
               jobs.size(), jobs.size() == 1 ? "" : "s", jobs.size() - skipped - filtered,
               HumanBytes(static_cast<double>(moved)).c_str(),
               static_cast<unsigned long long>(skipped),
               HumanBytes(static_cast<double>(skipped_bytes)).c_str(),
               filtered ? fmt::format(", {} left out by the filters", filtered).c_str() : "");
  return Status::Ok();
}

// `store rm URL`: one object; with `recursive`, every object under URL/ the filters select.
Status Remove(const std::string& url, bool recursive, const CopyOptions& opts) {
  BATON_ASSIGN_OR_RETURN(Named named, OpenNamed(url));
  std::unique_ptr<Store> store = std::move(named.store);
  std::vector<std::string> keys;
  if (named.folder && !recursive) {
    return InvalidArgument(
        "store rm {}: {} objects are under it; add --recursive to delete them all (--dryrun "
        "lists them first)",
        RedactUrl(url), named.objects.size());
  }
  for (const Store::ObjectInfo& o : named.objects) {
    if (Selected(opts, o.key)) keys.push_back(o.key);
  }
  for (const std::string& key : keys) {
    const std::string what = JoinKey(store->Url(), key);
    if (opts.dryrun) {
      std::printf("(dryrun) delete: %s\n", what.c_str());
      continue;
    }
    BATON_RETURN_IF_ERROR(store->Delete(key));
    std::fprintf(stderr, "deleted %s\n", what.c_str());
  }
  if (!opts.dryrun) {
    std::fprintf(stderr, "%zu object%s deleted\n", keys.size(), keys.size() == 1 ? "" : "s");
  }
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

  // --include/--exclude/--dryrun, on cp and rm.
  auto opts = std::make_shared<CopyOptions>();
  // CollectFilters reads the values from the options in order; these only hold them.
  auto includes = std::make_shared<std::vector<std::string>>();
  auto excludes = std::make_shared<std::vector<std::string>>();
  auto add_filters = [opts, includes, excludes](CLI::App* app) {
    CLI::Option* include = app->add_option(
        "--include", *includes, "copy what matches GLOB (after an --exclude); repeatable");
    CLI::Option* exclude = app->add_option(
        "--exclude", *excludes, "leave out what matches GLOB ('*' matches '/' too); repeatable");
    app->add_flag("--dryrun", opts->dryrun, "print what would be done, and do nothing");
    // One GLOB per flag (a second word is the next argument), as many flags as given.
    for (CLI::Option* o : {include, exclude}) {
      o->expected(1)->allow_extra_args(false)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    }
    return std::make_pair(include, exclude);
  };

  auto src = std::make_shared<std::string>(), dst = std::make_shared<std::string>();
  CLI::App* cp = cmd->add_subcommand(
      "cp",
      "copy a local file or folder to a store URL, or a store object or folder to a local path, "
      "skipping what the other side holds already (same size and ETag)");
  cp->add_option("src", *src, "source: local path or store URL")->required();
  cp->add_option("dst", *dst, "destination: store URL or local path")->required();
  const auto cp_filters = add_filters(cp);
  // The callbacks keep the flags' storage alive (CLI11 writes to it while parsing).
  cp->callback([&action, src, dst, opts, cp, cp_filters, includes, excludes] {
    CollectFilters(cp, cp_filters.first, cp_filters.second, opts.get());
    action = [src, dst, opts] {
      Env* env = Env::Default();
      bool from_store = IsRemoteUrl(*src) || src->starts_with("file://");
      bool to_store = IsRemoteUrl(*dst) || dst->starts_with("file://");
      Status s;
      if (from_store == to_store) {
        s = InvalidArgument("store cp: exactly one of '{}' and '{}' must be a store URL", *src,
                            *dst);
      } else if (to_store) {
        s = Upload(env, *src, *dst, *opts);
      } else {
        s = Download(env, *src, *dst, *opts);
      }
      return s.ok() ? 0 : ReportError(s);
    };
  });

  auto recursive = std::make_shared<bool>(false);
  CLI::App* rm =
      cmd->add_subcommand("rm", "delete an object, or with --recursive every object under URL/");
  rm->add_option("url", *url, "store URL")->required();
  rm->add_flag("--recursive", *recursive, "every object under URL/ (that the filters select)");
  const auto rm_filters = add_filters(rm);
  rm->callback([&action, url, recursive, opts, rm, rm_filters, includes, excludes] {
    CollectFilters(rm, rm_filters.first, rm_filters.second, opts.get());
    action = [url, recursive, opts] {
      Status s = Remove(*url, *recursive, *opts);
      return s.ok() ? 0 : ReportError(s);
    };
  });
}

}  // namespace baton::cli
