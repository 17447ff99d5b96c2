// See fake_rpc_params.h.
#include "fake_rpc_params.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdlib>

#include "cloud/metadata_time.h"

namespace baton::testing {

int64_t FakeNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string MinuteTime(int64_t unix_ms) {
  if (unix_ms <= 0) return "";
  return FormatRfc3339(unix_ms).substr(0, 16) + "Z";
}

bool Contains(const std::vector<std::string>& list, const std::string& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

RpcAnswer Missing(const std::string& name) {
  return RpcAnswer::Error(400, "MissingParameter",
                          "The input parameter \"" + name +
                              "\" that is mandatory for processing this request is not supplied.");
}

RpcAnswer Invalid(const std::string& name, const std::string& why) {
  return RpcAnswer::Error(400, "InvalidParameter",
                          "The specified parameter \"" + name + "\" is not valid: " + why);
}

RpcAnswer RegionNotFound() {
  return RpcAnswer::Error(404, "InvalidRegionId.NotFound",
                          "The specified RegionId does not exist.");
}

bool ValidClientToken(const std::string& token) {
  return token.size() <= kMaxClientTokenBytes &&
         std::all_of(token.begin(), token.end(), [](char c) { return c > ' ' && c < 127; });
}

std::optional<RpcAnswer> ClientTokens::Replay(const std::string& token, const Json& params) const {
  auto seen = seen_.find(token);
  if (token.empty() || seen == seen_.end()) return std::nullopt;
  if (seen->second.first != params) {
    return RpcAnswer::Error(400, "IdempotentParameterMismatch",
                            "The specified parameter has changed while using an already used "
                            "clientToken.");
  }
  return RpcAnswer::Ok(seen->second.second);
}

void ClientTokens::Remember(const std::string& token, const Json& params, const Json& answer) {
  if (!token.empty()) seen_[token] = {params, answer};
}

void ParamReader::OnlyKnown(std::initializer_list<std::string_view> known,
                            std::span<const std::string_view> also) {
  if (!p_.is_object()) return;
  for (const auto& [name, value] : p_.items()) {
    if (std::find(known.begin(), known.end(), name) == known.end() &&
        std::find(also.begin(), also.end(), name) == also.end()) {
      Fail(Invalid(Name(name), "the fake " + service_ + " does not know this parameter"));
    }
  }
}

std::string ParamReader::String(const char* name, bool required) {
  if (!Has(name) || (p_[name].is_string() && p_[name].get<std::string>().empty())) {
    if (required) Fail(Missing(Name(name)));
    return "";
  }
  const Json& v = p_[name];
  if (!v.is_string()) {
    Fail(Invalid(Name(name), "expected a single value, not a list or a struct"));
    return "";
  }
  return v.get<std::string>();
}

std::string ParamReader::OneOf(const char* name, std::initializer_list<std::string_view> allowed,
                               std::string fallback) {
  std::string v = String(name);
  if (v.empty()) return fallback;
  if (std::find(allowed.begin(), allowed.end(), v) == allowed.end()) {
    std::string list;
    for (std::string_view a : allowed) list += (list.empty() ? "" : " | ") + std::string(a);
    Fail(Invalid(Name(name), fmt::format("'{}' is not one of {}", v, list)));
    return fallback;
  }
  return v;
}

std::optional<int64_t> ParamReader::OptionalInt(const char* name, int64_t lo, int64_t hi) {
  std::string v = String(name);
  if (v.empty()) return std::nullopt;
  int64_t n = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || end != v.data() + v.size() || n < lo || n > hi) {
    Fail(Invalid(Name(name), fmt::format("'{}' is not a whole number in {}..{}", v, lo, hi)));
    return std::nullopt;
  }
  return n;
}

int64_t ParamReader::Int(const char* name, int64_t lo, int64_t hi, int64_t fallback) {
  return OptionalInt(name, lo, hi).value_or(fallback);
}

double ParamReader::Double(const char* name, double lo, double hi, double fallback) {
  std::string v = String(name);
  if (v.empty()) return fallback;
  char* end = nullptr;
  double d = std::strtod(v.c_str(), &end);
  if (*end != '\0' || !(d >= lo && d <= hi)) {
    Fail(Invalid(Name(name), fmt::format("'{}' is not a number in {}..{}", v, lo, hi)));
    return fallback;
  }
  return d;
}

std::optional<bool> ParamReader::OptionalBool(const char* name) {
  std::string v = OneOf(name, {"true", "false"}, "");
  if (v.empty()) return std::nullopt;
  return v == "true";
}

bool ParamReader::Bool(const char* name, bool fallback) {
  return OptionalBool(name).value_or(fallback);
}

std::vector<std::string> ParamReader::List(const char* name, size_t max) {
  std::vector<std::string> out;
  if (!Has(name)) return out;
  const Json& v = p_[name];
  if (!v.is_array() || v.size() > max || !std::all_of(v.begin(), v.end(), [](const Json& j) {
        return j.is_string() && !j.get<std::string>().empty();
      })) {
    Fail(Invalid(Name(name) + ".N",
                 fmt::format("expected {0}.1 .. {0}.{1}, each a value", Name(name), max)));
    return out;
  }
  return v.get<std::vector<std::string>>();
}

Json ParamReader::Struct(const char* name) {
  if (!Has(name)) return Json::object();
  if (!p_[name].is_object()) {
    Fail(Invalid(Name(name), fmt::format("expected {}.<member> values", Name(name))));
    return Json::object();
  }
  return p_[name];
}

std::vector<Json> ParamReader::StructList(const char* name, size_t max) {
  std::vector<Json> out;
  if (!Has(name)) return out;
  const Json& v = p_[name];
  if (!v.is_array() || v.size() > max ||
      !std::all_of(v.begin(), v.end(), [](const Json& j) { return j.is_object(); })) {
    Fail(Invalid(Name(name) + ".N",
                 fmt::format("expected {0}.1.<member> .. {0}.{1}.<member>", Name(name), max)));
    return out;
  }
  for (const Json& item : v) out.push_back(item);
  return out;
}

std::vector<std::pair<std::string, std::string>> ParamReader::Tags() {
  std::vector<std::pair<std::string, std::string>> tags;
  if (!Has("Tag")) return tags;
  const Json& list = p_["Tag"];
  if (!list.is_array() || list.size() > kMaxTags) {
    Fail(Invalid(Name("Tag"), fmt::format("expected Tag.1..Tag.{} with Key and Value", kMaxTags)));
    return tags;
  }
  for (size_t i = 0; i < list.size(); ++i) {
    const Json& t = list[i];
    std::string n = Name(fmt::format("Tag.{}.Key", i + 1));
    if (!t.is_object() || !t.contains("Key") || !t["Key"].is_string() ||
        t["Key"].get<std::string>().empty()) {
      Fail(Missing(n));
      return tags;
    }
    for (const auto& [k, v] : t.items()) {
      if ((k != "Key" && k != "Value") || !v.is_string()) {
        Fail(Invalid(Name(fmt::format("Tag.{}.{}", i + 1, k)), "expected Key and Value"));
        return tags;
      }
    }
    tags.emplace_back(t["Key"].get<std::string>(), t.value("Value", ""));
  }
  return tags;
}

}  // namespace baton::testing
