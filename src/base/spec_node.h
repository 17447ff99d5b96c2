// SpecNode: the one typed reader of Baton's YAML files (the job spec and its fleet section). A
// node is a value at a key path that remembers its place in the file, so every error names the
// file, line, column and key path:
//
//   jobs/demo.yaml:14:38: fleet.offers[1].spot: must be a positive price
//
// Asking a mapping for a key it lacks gives an absent node that still knows its key path and
// sits at the mapping's place, for "required key is missing". Scalars are read as the type asked
// for, quoted or not (`zone: 1a`, `lora_rank: "8"`). Nodes are cheap to copy (they share the
// parsed document) and never throw.
#pragma once

#include <concepts>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/json.h"
#include "base/status.h"

namespace YAML {
class Node;
}

namespace baton {

class SpecNode {
 public:
  SpecNode();  // absent, with no source

  // Limits on a document Parse accepts (a job file is a few KB).
  static constexpr size_t kMaxDocumentBytes = 1 << 20;
  static constexpr size_t kMaxDocumentNodes = 100000;

  // Parses a YAML (or JSON) document. `source` names it in errors ("jobs/demo.yaml"); `path` is
  // the key path of its root: "" for a whole file, "fleet" for a fleet section given alone.
  // Refused, with the place: text that is not UTF-8, anchors and aliases, a key given twice in
  // one mapping, and documents over kMaxDocumentBytes or kMaxDocumentNodes.
  static Result<SpecNode> Parse(std::string_view text, const std::string& source,
                                const std::string& path = "");

  const std::string& source() const { return *source_; }
  const std::string& path() const { return path_; }
  // "demo.yaml:3:5" (1-based); the source alone when the place is unknown.
  std::string Where() const;
  // "demo.yaml:3:5: fleet.offers[0]: <what>" (no key path at the root).
  Status Error(std::string_view what) const;
  // Error() of the member `key` (at this mapping's place when the key is absent).
  Status Error(std::string_view key, std::string_view what) const { return Get(key).Error(what); }

  bool present() const;  // given, with any value (null included)
  bool IsNull() const;   // absent, or given as null (`~`, `null` or nothing)
  bool IsMap() const;
  bool IsList() const;
  bool IsScalar() const;
  const char* TypeName() const;  // "a mapping", "a list", "a scalar", "null", "nothing"

  // Mappings. Get() of a missing key (or of a node that is no mapping) is absent.
  bool Has(std::string_view key) const { return Get(key).present(); }
  SpecNode Get(std::string_view key) const;
  std::vector<std::string> Keys() const;  // in the file's order
  // An error unless this is a mapping ("expected a mapping of keys, got a list").
  Status ExpectMap() const;
  // ExpectMap(), and every key is one of `known` and given once (an error names the first other
  // one, at its place, and lists `known`).
  Status CheckKeys(const std::set<std::string>& known) const;

  // Lists: size() is 0 for anything else; Item(i) has the key path "offers[2]".
  size_t size() const;
  SpecNode Item(size_t i) const;

  // This node's value, or an error that names the type expected and what was given.
  Result<std::string> AsString() const;
  // Numbers are finite: nan, inf, .nan, .inf and literals beyond double's range are errors.
  Result<double> AsNumber() const;
  Result<bool> AsBool() const;  // true/false (also True/False, yes/no)
  // An integer in int64's range, also a whole number up to 2^53 ("2.0"; not "2.5" or "1e30").
  Result<int64_t> AsInt() const;
  Result<std::vector<std::string>> AsStrings() const;  // a list of strings, or one string

  // The same, into a field of the type it has (TrainArgs::VisitFields).
  Status Read(std::string* out) const { return Assign(AsString(), out); }
  Status Read(bool* out) const { return Assign(AsBool(), out); }
  Status Read(double* out) const { return Assign(AsNumber(), out); }
  Status Read(std::vector<std::string>* out) const { return Assign(AsStrings(), out); }
  template <std::integral Int>  // bool* takes the overload above
  Status Read(Int* out) const {
    BATON_ASSIGN_OR_RETURN(int64_t v, AsInt());
    if (std::cmp_less(v, std::numeric_limits<Int>::min()) ||
        std::cmp_greater(v, std::numeric_limits<Int>::max())) {
      return Error(fmt::format("{} is out of range ({}..{})", v, std::numeric_limits<Int>::min(),
                               std::numeric_limits<Int>::max()));
    }
    *out = static_cast<Int>(v);
    return Status::Ok();
  }

  // Optional members of a mapping: `fallback` when the key is absent.
  Result<std::string> String(std::string_view key, const std::string& fallback) const;
  Result<double> Number(std::string_view key, double fallback) const;
  Result<bool> Bool(std::string_view key, bool fallback) const;
  Result<int64_t> Int(std::string_view key, int64_t fallback) const;

  // A duration given as `<stem>_hours`, `<stem>_minutes` or `<stem>_seconds` (at most one of
  // them), in seconds; nullopt when none is given. Negative values and ones over
  // kMaxDurationSeconds (100 years) are errors.
  static constexpr double kMaxDurationSeconds = 100.0 * 365 * 86400;
  Result<std::optional<double>> Duration(std::string_view stem) const;
  // The key a duration was given as (for errors), or `<stem>_hours` when none is given.
  std::string DurationKey(std::string_view stem) const;
  // The three keys Duration(stem) reads, for CheckKeys.
  static void AddDurationKeys(std::string_view stem, std::set<std::string>* known);

  // The value as JSON, for tools that rewrite a document: plain scalars that read as numbers,
  // booleans or null become those, quoted ones stay strings; absent is null.
  Json ToJson() const;

 private:
  SpecNode(std::shared_ptr<const YAML::Node> node, std::shared_ptr<const std::string> source,
           std::string path, int line, int column)
      : node_(std::move(node)),
        source_(std::move(source)),
        path_(std::move(path)),
        line_(line),
        column_(column) {}
  SpecNode Child(const YAML::Node& node, std::string path) const;
  std::string KeyPath(std::string_view key) const;
  template <typename T>
  static Status Assign(Result<T> v, T* out) {
    if (!v.ok()) return v.status();
    *out = std::move(*v);
    return Status::Ok();
  }

  std::shared_ptr<const YAML::Node> node_;  // null: absent
  std::shared_ptr<const std::string> source_;
  std::string path_;
  int line_ = -1;  // 0-based; an absent node has its parent's place
  int column_ = -1;
};

}  // namespace baton
