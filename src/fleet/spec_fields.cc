#include "fleet/spec_fields.h"

#include <cmath>

namespace baton::fleet {
namespace {

// The three unit suffixes a duration key may carry, with their length in seconds.
struct Unit {
  const char* suffix;
  double seconds;
};
constexpr Unit kUnits[] = {{"_hours", 3600}, {"_minutes", 60}, {"_seconds", 1}};

}  // namespace

Result<SpecFields> SpecFields::Open(const Json& obj, const std::string& source,
                                    const std::string& path) {
  if (!obj.is_object()) {
    return InvalidArgument("{}: {}: expected a mapping of keys, got {}", source, path,
                           obj.type_name());
  }
  return SpecFields(&obj, source, path);
}

std::string SpecFields::KeyPath(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

Status SpecFields::Error(std::string_view key, std::string_view what) const {
  return InvalidArgument("{}: {}: {}", source_, KeyPath(key), what);
}

Status SpecFields::Error(std::string_view what) const {
  return InvalidArgument("{}: {}: {}", source_, path_, what);
}

Status SpecFields::CheckKeys(const std::set<std::string>& known) const {
  for (const auto& [key, value] : obj_->items()) {
    if (known.count(key)) continue;
    std::string list;
    for (const std::string& k : known) list += (list.empty() ? "" : ", ") + k;
    return Error(key, fmt::format("unknown key (known: {})", list));
  }
  return Status::Ok();
}

Result<std::string> SpecFields::String(std::string_view key, const std::string& fallback) const {
  if (!Has(key)) return fallback;
  const Json& v = Get(key);
  if (!v.is_string()) return Error(key, fmt::format("expected a string, got {}", v.type_name()));
  return v.get<std::string>();
}

Result<double> SpecFields::Number(std::string_view key, double fallback) const {
  if (!Has(key)) return fallback;
  const Json& v = Get(key);
  if (!v.is_number()) return Error(key, fmt::format("expected a number, got {}", v.type_name()));
  double d = v.get<double>();
  if (!std::isfinite(d)) return Error(key, "expected a finite number");
  return d;
}

Result<bool> SpecFields::Bool(std::string_view key, bool fallback) const {
  if (!Has(key)) return fallback;
  const Json& v = Get(key);
  if (!v.is_boolean()) {
    return Error(key, fmt::format("expected true or false, got {}", v.type_name()));
  }
  return v.get<bool>();
}

Result<int64_t> SpecFields::Int(std::string_view key, int64_t fallback) const {
  if (!Has(key)) return fallback;
  const Json& v = Get(key);
  if (v.is_number_integer() || v.is_number_unsigned()) return v.get<int64_t>();
  if (v.is_number_float() && v.get<double>() == std::floor(v.get<double>())) {
    return static_cast<int64_t>(v.get<double>());
  }
  return Error(key, fmt::format("expected an integer, got {}", v.dump()));
}

Result<std::optional<double>> SpecFields::Duration(std::string_view stem) const {
  std::optional<double> out;
  std::string given;
  for (const Unit& u : kUnits) {
    std::string key = std::string(stem) + u.suffix;
    if (!Has(key)) continue;
    if (out) return Error(key, fmt::format("give the duration once (also given as {})", given));
    BATON_ASSIGN_OR_RETURN(double v, Number(key, 0));
    if (v < 0) return Error(key, "must not be negative");
    out = v * u.seconds;
    given = key;
  }
  return out;
}

std::string SpecFields::DurationKey(std::string_view stem) const {
  for (const Unit& u : kUnits) {
    std::string key = std::string(stem) + u.suffix;
    if (Has(key)) return key;
  }
  return std::string(stem) + "_hours";
}

void SpecFields::AddDurationKeys(std::string_view stem, std::set<std::string>* known) {
  for (const Unit& u : kUnits) known->insert(std::string(stem) + u.suffix);
}

}  // namespace baton::fleet
