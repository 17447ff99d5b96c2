#include "base/json.h"

#include <cmath>
#include <limits>

namespace baton {
namespace {

// Converts a byte offset into "line:column" (1-based; the text's first line is `first_line`) for
// error messages.
std::string LineColumn(std::string_view text, size_t offset, size_t first_line) {
  size_t line = first_line, col = 1;
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

// nlohmann's message starts with "[json.exception.parse_error.101] parse error at ..."; the rest
// is what a user needs.
std::string NlohmannMessage(std::string what) {
  size_t pos = what.find("] ");
  return pos == std::string::npos ? what : what.substr(pos + 2);
}

// Builds the document from nlohmann's SAX events, as its own DOM parser does, and also refuses
// a key given twice in one object (nlohmann keeps the last) and nesting deeper than
// kMaxJsonDepth. Its containers are the stack's: a child is only ever added to the innermost open
// one, so the pointers held stay valid.
class DomBuilder {
 public:
  explicit DomBuilder(Json* root) : root_(root) {}

  bool null() { return Add(nullptr) != nullptr; }
  bool boolean(bool v) { return Add(v) != nullptr; }
  bool number_integer(Json::number_integer_t v) { return Add(v) != nullptr; }
  bool number_unsigned(Json::number_unsigned_t v) { return Add(v) != nullptr; }
  bool number_float(Json::number_float_t v, const Json::string_t&) { return Add(v) != nullptr; }
  bool string(Json::string_t& v) { return Add(std::move(v)) != nullptr; }
  bool binary(Json::binary_t& v) {  // never from JSON text; for the SAX interface's sake
    Json j = Json::binary({});
    j.get_binary() = std::move(v);
    return Add(std::move(j)) != nullptr;
  }
  bool start_object(size_t) { return Open(Json::object()); }
  bool start_array(size_t) { return Open(Json::array()); }
  bool end_object() { return Close(); }
  bool end_array() { return Close(); }
  bool key(Json::string_t& k) {
    if (stack_.back()->contains(k)) {
      refusal_ = fmt::format("{}key '{}' is given twice", PathPrefix(), k);
      return false;
    }
    key_ = std::move(k);
    return true;
  }
  bool parse_error(size_t position, const std::string&, const nlohmann::detail::exception& e) {
    error_offset_ = position > 0 ? position - 1 : 0;
    error_message_ = NlohmannMessage(e.what());
    return false;
  }

  const std::string& refusal() const { return refusal_; }  // a duplicate key or too deep
  size_t error_offset() const { return error_offset_; }
  const std::string& error_message() const { return error_message_; }

 private:
  Json* Add(Json v) {
    if (stack_.empty()) {
      *root_ = std::move(v);
      return root_;
    }
    Json& parent = *stack_.back();
    if (parent.is_object()) return &(parent[key_] = std::move(v));
    parent.push_back(std::move(v));
    return &parent.back();
  }
  bool Open(Json v) {
    if (stack_.size() >= kMaxJsonDepth) {
      refusal_ = fmt::format("{}nested deeper than {} levels", PathPrefix(), kMaxJsonDepth);
      return false;
    }
    Json* at = Add(std::move(v));
    keys_.push_back(key_);
    stack_.push_back(at);
    return true;
  }
  bool Close() {
    stack_.pop_back();
    key_ = keys_.back();
    keys_.pop_back();
    return true;
  }
  // "a.b[2]: " for the innermost open container (and "" at the top), for refusals.
  std::string PathPrefix() const {
    std::string path;
    for (size_t i = 1; i < stack_.size(); ++i) {
      const Json& parent = *stack_[i - 1];
      if (parent.is_object()) {
        path += (path.empty() ? "" : ".") + keys_[i];
      } else {
        path += fmt::format("[{}]", parent.size() - 1);
      }
    }
    return path.empty() ? path : path + ": ";
  }

  Json* root_;
  std::vector<Json*> stack_;       // the open containers, outermost first
  std::vector<std::string> keys_;  // keys_[i]: the key stack_[i] has in stack_[i - 1]
  std::string key_;                // the current key of the innermost open object
  std::string refusal_, error_message_;
  size_t error_offset_ = 0;
};

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

Result<Json> ParseJson(std::string_view text, std::string_view source, size_t first_line) {
  Json root;
  DomBuilder builder(&root);
  bool ok = false;
  try {
    ok = Json::sax_parse(text.begin(), text.end(), &builder);
  } catch (const Json::exception& e) {  // the builder refuses by returning false; this is a guard
    return InvalidArgument("{}: invalid JSON: {}", source, NlohmannMessage(e.what()));
  }
  if (ok) return root;
  if (!builder.refusal().empty()) return InvalidArgument("{}: {}", source, builder.refusal());
  return InvalidArgument("{}:{}: invalid JSON: {}", source,
                         LineColumn(text, builder.error_offset(), first_line),
                         builder.error_message());
}

std::string DumpJson(const Json& j, int indent) {
  return j.dump(indent, ' ', /*ensure_ascii=*/false, Json::error_handler_t::replace);
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

std::string JsonStringOr(const Json& obj, std::string_view key, std::string_view fallback) {
  if (!obj.is_object()) return std::string(fallback);
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) return std::string(fallback);
  return it->get<std::string>();
}

}  // namespace baton
