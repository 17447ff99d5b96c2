#include "base/json.h"

#include <cmath>
#include <limits>

namespace baton {
namespace {

// Converts a byte offset into "line:column" (1-based) for error messages.
std::string LineColumn(std::string_view text, size_t offset) {
  size_t line = 1, col = 1;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return fmt::format("{}:{}", line, col);
}

Result<const Json*> Member(const Json& obj, std::string_view key, std::string_view source) {
  if (!obj.is_object()) return InvalidArgument("{}: expected a JSON object", source);
  auto it = obj.find(key);
  if (it == obj.end()) return NotFound("{}: missing key '{}'", source, key);
  return &*it;
}

Status WrongType(std::string_view source, std::string_view key, std::string_view want,
                 const Json& got) {
  return InvalidArgument("{}: key '{}': expected {}, got {}", source, key, want, got.type_name());
}

}  // namespace

Result<Json> ParseJson(std::string_view text, std::string_view source) {
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const Json::parse_error& e) {
    std::string what = e.what();
    // nlohmann's message starts with "[json.exception.parse_error.101] parse error at ...".
    size_t pos = what.find("] ");
    if (pos != std::string::npos) what = what.substr(pos + 2);
    return InvalidArgument("{}:{}: invalid JSON: {}", source, LineColumn(text, e.byte - 1), what);
  }
}

Result<Json> ReadJsonFile(Env* env, const std::string& path) {
  BATON_ASSIGN_OR_RETURN(std::string text, env->ReadFile(path));
  return ParseJson(text, path);
}

Result<int64_t> JsonInt(const Json& obj, std::string_view key, std::string_view source) {
  BATON_ASSIGN_OR_RETURN(const Json* v, Member(obj, key, source));
  Result<int64_t> i = JsonAsInt(*v);
  if (!i.ok()) return InvalidArgument("{}: key '{}': {}", source, key, i.status().message());
  return i;
}

Result<double> JsonNumber(const Json& obj, std::string_view key, std::string_view source) {
  BATON_ASSIGN_OR_RETURN(const Json* v, Member(obj, key, source));
  Result<double> d = JsonAsNumber(*v);
  if (!d.ok()) return InvalidArgument("{}: key '{}': {}", source, key, d.status().message());
  return d;
}

Result<int64_t> JsonAsInt(const Json& v) {
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return InvalidArgument("{} is out of range (at most {})", u,
                             std::numeric_limits<int64_t>::max());
    }
    return static_cast<int64_t>(u);
  }
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_float()) {
    // 2.0 is the integer 2 (some writers print whole numbers so); 2.5, 1e30 and inf are not.
    double d = v.get<double>();
    if (!std::isfinite(d) || d != std::floor(d)) {
      return InvalidArgument("expected an integer, got {}", d);
    }
    if (d < -kMaxExactInt || d > kMaxExactInt) {
      return InvalidArgument("{} is out of range (at most {:.0f} in magnitude)", d, kMaxExactInt);
    }
    return static_cast<int64_t>(d);
  }
  return InvalidArgument("expected an integer, got {}", v.type_name());
}

Result<double> JsonAsNumber(const Json& v) {
  if (!v.is_number()) return InvalidArgument("expected a number, got {}", v.type_name());
  double d = v.get<double>();
  // JSON has no NaN or infinity, but a literal beyond double's range (1e999) parses as inf.
  if (!std::isfinite(d)) return InvalidArgument("expected a finite number, got {}", d);
  return d;
}

Result<std::string> JsonString(const Json& obj, std::string_view key, std::string_view source) {
  BATON_ASSIGN_OR_RETURN(const Json* v, Member(obj, key, source));
  if (v->is_string()) return v->get<std::string>();
  return WrongType(source, key, "a string", *v);
}

Result<bool> JsonBool(const Json& obj, std::string_view key, std::string_view source) {
  BATON_ASSIGN_OR_RETURN(const Json* v, Member(obj, key, source));
  if (v->is_boolean()) return v->get<bool>();
  return WrongType(source, key, "a boolean", *v);
}

}  // namespace baton
