#include "base/json.h"

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
  // Unsigned values from 2^63 on, and floats out of range, would wrap or be undefined in
  // get<int64_t>(): they are refused, not turned negative.
  if (v->is_number_unsigned()) {
    if (v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
      return InvalidArgument("{}: key '{}': {} is out of the 64-bit integer range", source, key,
                             v->dump());
    }
    return static_cast<int64_t>(v->get<uint64_t>());
  }
  if (v->is_number_integer()) return v->get<int64_t>();
  if (v->is_number_float()) {
    double d = v->get<double>();
    // [-2^63, 2^63): the doubles that convert to int64 exactly when they are whole.
    if (d >= -9223372036854775808.0 && d < 9223372036854775808.0 &&
        d == static_cast<double>(static_cast<int64_t>(d))) {
      return static_cast<int64_t>(d);
    }
  }
  return WrongType(source, key, "an integer", *v);
}

Result<double> JsonNumber(const Json& obj, std::string_view key, std::string_view source) {
  BATON_ASSIGN_OR_RETURN(const Json* v, Member(obj, key, source));
  if (v->is_number()) return v->get<double>();
  return WrongType(source, key, "a number", *v);
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
