// Typed reading of one mapping of the fleet section (spec.cc, market.cc), with errors that name
// the job file and the key path: "demo.yaml: fleet.offers[0].spot: must be a positive price".
#pragma once

#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "base/json.h"
#include "base/status.h"

namespace baton::fleet {

class SpecFields {
 public:
  // `path` is where `obj` sits ("fleet.overheads"); an error if it is not a mapping.
  static Result<SpecFields> Open(const Json& obj, const std::string& source,
                                 const std::string& path);

  const std::string& source() const { return source_; }
  const std::string& path() const { return path_; }
  std::string KeyPath(std::string_view key) const;  // "fleet.overheads.boot_minutes"
  Status Error(std::string_view key, std::string_view what) const;
  Status Error(std::string_view what) const;  // about the mapping itself

  bool Has(std::string_view key) const { return obj_->contains(key); }
  const Json& Get(std::string_view key) const { return obj_->at(key); }

  // Every key must be one of `known` (an error names the first other one and lists `known`).
  Status CheckKeys(const std::set<std::string>& known) const;

  // Optional members; `fallback` when absent.
  Result<std::string> String(std::string_view key, const std::string& fallback) const;
  Result<double> Number(std::string_view key, double fallback) const;
  Result<bool> Bool(std::string_view key, bool fallback) const;
  Result<int64_t> Int(std::string_view key, int64_t fallback) const;

  // A duration given as `<stem>_hours`, `<stem>_minutes` or `<stem>_seconds` (at most one of
  // them), in seconds; nullopt when none is given. Negative values are errors.
  Result<std::optional<double>> Duration(std::string_view stem) const;
  // The key a duration was given as (for errors), or `<stem>_hours` when none is given.
  std::string DurationKey(std::string_view stem) const;
  // The three keys Duration(stem) reads, for CheckKeys.
  static void AddDurationKeys(std::string_view stem, std::set<std::string>* known);

 private:
  SpecFields(const Json* obj, std::string source, std::string path)
      : obj_(obj), source_(std::move(source)), path_(std::move(path)) {}

  const Json* obj_;
  std::string source_;
  std::string path_;
};

}  // namespace baton::fleet
