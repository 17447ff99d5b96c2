#include "base/spec_node.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <map>
#include <sstream>

#include "base/utf8.h"

namespace baton {
namespace {

// The three unit suffixes a duration key may carry, with their length in seconds.
struct Unit {
  const char* suffix;
  double seconds;
};
constexpr Unit kUnits[] = {{"_hours", 3600}, {"_minutes", 60}, {"_seconds", 1}};

// Whole-string conversions; nullopt unless all of `s` is the number.
std::optional<int64_t> ToInt(const std::string& s) {
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (*end != '\0' || errno != 0) return std::nullopt;
  return v;
}

std::optional<double> ToDouble(const std::string& s) {
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (*end != '\0' || !std::isfinite(v)) return std::nullopt;
  return v;
}

// A refusal found while scanning the document's events: where and what.
struct ScanRefusal {
  YAML::Mark mark;
  std::string what;
};

// Walks a document's parse events before it is loaded, and refuses what Baton's documents never
// need and an attacker could use: anchors and aliases (a 600-byte "billion laughs" document
// expands to gigabytes in any walk that follows aliases), keys given twice in one mapping
// (yaml-cpp keeps both, and readers would see only one), and more than kMaxDocumentNodes nodes.
// The events do not expand aliases, so the scan takes time and memory linear in the text.
class DocumentScan : public YAML::EventHandler {
 public:
  explicit DocumentScan(std::string root_path) : root_path_(std::move(root_path)) {}

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    Begin(mark, anchor, nullptr);
    End();
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override {
    throw ScanRefusal{mark, "YAML aliases (*name) are not supported: write the value out"};
  }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                const std::string& value) override {
    Begin(mark, anchor, &value);
    End();
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    Begin(mark, anchor, nullptr);
    Open(mark, false);
  }
  void OnSequenceEnd() override { Close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    Begin(mark, anchor, nullptr);
    Open(mark, true);
  }
  void OnMapEnd() override { Close(); }
  void OnAnchor(const YAML::Mark& mark, const std::string& name) override {
    throw ScanRefusal{mark, fmt::format("YAML anchors (&{}) are not supported", name)};
  }

 private:
  struct Frame {
    bool map = false;
    bool at_key = true;                // a mapping's next node is a key
    std::map<std::string, int> lines;  // the keys given so far, with their 0-based lines
    std::string key;                   // the current key
    size_t index = 0;                  // a list's current item
    std::string path;
  };

  void Begin(const YAML::Mark& mark, YAML::anchor_t anchor, const std::string* scalar) {
    if (++nodes_ > SpecNode::kMaxDocumentNodes) {
      throw ScanRefusal{
          mark, fmt::format("the document has more than {} nodes", SpecNode::kMaxDocumentNodes)};
    }
    if (anchor != YAML::NullAnchor)
      throw ScanRefusal{mark, "YAML anchors (&name) are not supported"};
    if (stack_.empty() || !stack_.back().map || !stack_.back().at_key) return;
    Frame& map = stack_.back();
    if (scalar == nullptr) {  // a mapping, a list or null as a key
      map.key = "?";
      return;
    }
    std::string path = map.path.empty() ? *scalar : fmt::format("{}.{}", map.path, *scalar);
    auto [it, fresh] = map.lines.emplace(*scalar, mark.line);
    if (!fresh) {
      throw ScanRefusal{
          mark, fmt::format("{}: the key is given twice (first on line {})", path, it->second + 1)};
    }
    map.key = *scalar;
  }
  // After a whole node: a mapping's key is followed by its value, a value by the next key.
  void End() {
    if (stack_.empty()) return;
    Frame& top = stack_.back();
    if (top.map) {
      top.at_key = !top.at_key;
    } else {
      ++top.index;
    }
  }
  void Open(const YAML::Mark&, bool map) {
    Frame frame;
    frame.map = map;
    if (stack_.empty()) {
      frame.path = root_path_;
    } else if (const Frame& parent = stack_.back(); parent.map) {
      frame.path = parent.path.empty() ? parent.key : fmt::format("{}.{}", parent.path, parent.key);
    } else {
      frame.path = fmt::format("{}[{}]", parent.path, parent.index);
    }
    stack_.push_back(std::move(frame));
  }
  void Close() {
    stack_.pop_back();
    End();
  }

  std::string root_path_;
  std::vector<Frame> stack_;
  size_t nodes_ = 0;
};
// A scalar that names a value beyond the finite numbers: YAML's .nan/.inf spellings, strtod's
// nan/inf/infinity, and literals that overflow double (1e999).
bool IsNonFinite(const std::string& s) {
  std::string t = s;
  if (!t.empty() && (t[0] == '+' || t[0] == '-')) t = t.substr(1);
  if (t == ".nan" || t == ".NaN" || t == ".NAN" || t == ".inf" || t == ".Inf" || t == ".INF") {
    return true;
  }
  if (t.empty()) return false;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  return *end == '\0' && !std::isfinite(v);
}

}  // namespace

SpecNode::SpecNode() : source_(std::make_shared<const std::string>()) {}

Result<SpecNode> SpecNode::Parse(std::string_view text, const std::string& source,
                                 const std::string& path) {
  auto shared_source = std::make_shared<const std::string>(source);
  if (text.size() > kMaxDocumentBytes) {
    return InvalidArgument("{}: the document is {} bytes, over the limit of {} bytes", source,
                           text.size(), kMaxDocumentBytes);
  }
  if (std::optional<size_t> bad = FindInvalidUtf8(text)) {
    size_t line = 1, col = 1;
    for (size_t i = 0; i < *bad; ++i) {
      col = text[i] == '\n' ? 1 : col + 1;
      line += text[i] == '\n';
    }
    return InvalidArgument("{}:{}:{}: not valid UTF-8 (byte offset {})", source, line, col, *bad);
  }
  try {
    std::string copy(text);
    std::istringstream in(copy);
    YAML::Parser parser(in);
    DocumentScan scan(path);
    parser.HandleNextDocument(scan);
  } catch (const ScanRefusal& r) {
    return InvalidArgument("{}:{}:{}: {}", source, r.mark.line + 1, r.mark.column + 1, r.what);
  } catch (const YAML::Exception& e) {
    return InvalidArgument("{}:{}:{}: not valid YAML: {}", source, e.mark.line + 1,
                           e.mark.column + 1, e.msg);
  }
  try {
    auto root = std::make_shared<const YAML::Node>(YAML::Load(std::string(text)));
    SpecNode top(nullptr, shared_source, path, 0, 0);
    return top.Child(*root, path);
  } catch (const YAML::Exception& e) {
    return InvalidArgument("{}:{}:{}: not valid YAML: {}", source, e.mark.line + 1,
                           e.mark.column + 1, e.msg);
  }
}

SpecNode SpecNode::Child(const YAML::Node& node, std::string path) const {
  if (!node.IsDefined()) return SpecNode(nullptr, source_, std::move(path), line_, column_);
  YAML::Mark m = node.Mark();
  bool placed = m.line >= 0 && m.column >= 0;
  return SpecNode(std::make_shared<const YAML::Node>(node), source_, std::move(path),
                  placed ? m.line : line_, placed ? m.column : column_);
}

std::string SpecNode::KeyPath(std::string_view key) const {
  return path_.empty() ? std::string(key) : fmt::format("{}.{}", path_, key);
}

std::string SpecNode::Where() const {
  if (line_ < 0) return *source_;
  return fmt::format("{}:{}:{}", *source_, line_ + 1, column_ + 1);
}

Status SpecNode::Error(std::string_view what) const {
  if (path_.empty()) return InvalidArgument("{}: {}", Where(), what);
  return InvalidArgument("{}: {}: {}", Where(), path_, what);
}

bool SpecNode::present() const { return node_ != nullptr; }
bool SpecNode::IsNull() const { return !node_ || node_->IsNull(); }
bool SpecNode::IsMap() const { return node_ && node_->IsMap(); }
bool SpecNode::IsList() const { return node_ && node_->IsSequence(); }
bool SpecNode::IsScalar() const { return node_ && node_->IsScalar(); }

const char* SpecNode::TypeName() const {
  if (!node_) return "nothing";
  if (node_->IsMap()) return "a mapping";
  if (node_->IsSequence()) return "a list";
  if (node_->IsScalar()) return "a scalar";
  return "null";
}

SpecNode SpecNode::Get(std::string_view key) const {
  if (IsMap()) {
    for (auto it = node_->begin(); it != node_->end(); ++it) {
      if (it->first.IsScalar() && it->first.Scalar() == key) {
        return Child(it->second, KeyPath(key));
      }
    }
  }
  return SpecNode(nullptr, source_, KeyPath(key), line_, column_);
}

std::vector<std::string> SpecNode::Keys() const {
  std::vector<std::string> keys;
  if (!IsMap()) return keys;
  for (auto it = node_->begin(); it != node_->end(); ++it) keys.push_back(it->first.Scalar());
  return keys;
}

Status SpecNode::ExpectMap() const {
  if (IsMap()) return Status::Ok();
  return Error(fmt::format("expected a mapping of keys, got {}", TypeName()));
}

Status SpecNode::CheckKeys(const std::set<std::string>& known) const {
  BATON_RETURN_IF_ERROR(ExpectMap());
  // A key given twice never gets here: Parse's event scan refuses it with both lines.
  for (auto it = node_->begin(); it != node_->end(); ++it) {
    SpecNode key = Child(it->first, KeyPath(it->first.Scalar()));
    if (!it->first.IsScalar()) return key.Error("expected a key name");
    const std::string& name = it->first.Scalar();
    if (!known.count(name)) {
      std::string list;
      for (const std::string& k : known) list += (list.empty() ? "" : ", ") + k;
      return key.Error(fmt::format("unknown key (known: {})", list));
    }
  }
  return Status::Ok();
}

size_t SpecNode::size() const { return IsList() ? node_->size() : 0; }

SpecNode SpecNode::Item(size_t i) const {
  std::string path = fmt::format("{}[{}]", path_, i);
  if (i >= size()) return SpecNode(nullptr, source_, std::move(path), line_, column_);
  const YAML::Node& list = *node_;
  return Child(list[i], std::move(path));
}

Result<std::string> SpecNode::AsString() const {
  if (!IsScalar()) return Error(fmt::format("expected a string, got {}", TypeName()));
  return node_->Scalar();
}

Result<double> SpecNode::AsNumber() const {
  if (!IsScalar()) return Error(fmt::format("expected a number, got {}", TypeName()));
  const std::string& s = node_->Scalar();
  if (IsNonFinite(s)) return Error(fmt::format("expected a finite number, got '{}'", s));
  std::optional<double> v = ToDouble(s);
  if (!v) return Error(fmt::format("expected a number, got '{}'", s));
  return *v;
}

Result<bool> SpecNode::AsBool() const {
  if (!IsScalar()) return Error(fmt::format("expected true or false, got {}", TypeName()));
  const std::string& s = node_->Scalar();
  if (s == "true" || s == "True" || s == "yes") return true;
  if (s == "false" || s == "False" || s == "no") return false;
  return Error(fmt::format("expected true or false, got '{}'", s));
}

Result<int64_t> SpecNode::AsInt() const {
  if (!IsScalar()) return Error(fmt::format("expected an integer, got {}", TypeName()));
  const std::string& s = node_->Scalar();
  if (std::optional<int64_t> v = ToInt(s)) return *v;
  // 2.0 is the integer 2 (JSON writers may print whole numbers so); beyond 2^53 a double no
  // longer holds every integer, so 1e30 is refused rather than rounded.
  std::optional<double> d = ToDouble(s);
  bool whole = d && *d == std::floor(*d);
  if (whole && std::fabs(*d) <= kMaxExactInt) return static_cast<int64_t>(*d);
  // Digits that strtoll could not hold (ERANGE), or a whole number beyond 2^53.
  bool digits = s.find_first_not_of("+-0123456789") == std::string::npos;
  if (whole || digits) {
    return Error(fmt::format("{} is out of range for an integer (at most {})", s,
                             std::numeric_limits<int64_t>::max()));
  }
  return Error(fmt::format("expected an integer, got '{}'", s));
}

Result<std::vector<std::string>> SpecNode::AsStrings() const {
  std::vector<std::string> out;
  if (IsScalar()) {
    out.push_back(node_->Scalar());
    return out;
  }
  if (!IsList()) return Error(fmt::format("expected a list of strings, got {}", TypeName()));
  for (size_t i = 0; i < size(); ++i) {
    BATON_ASSIGN_OR_RETURN(std::string s, Item(i).AsString());
    out.push_back(std::move(s));
  }
  return out;
}

Result<std::string> SpecNode::String(std::string_view key, const std::string& fallback) const {
  SpecNode v = Get(key);
  return v.present() ? v.AsString() : fallback;
}

Result<double> SpecNode::Number(std::string_view key, double fallback) const {
  SpecNode v = Get(key);
  return v.present() ? v.AsNumber() : fallback;
}

Result<bool> SpecNode::Bool(std::string_view key, bool fallback) const {
  SpecNode v = Get(key);
  return v.present() ? v.AsBool() : fallback;
}

Result<int64_t> SpecNode::Int(std::string_view key, int64_t fallback) const {
  SpecNode v = Get(key);
  return v.present() ? v.AsInt() : fallback;
}

Result<std::optional<double>> SpecNode::Duration(std::string_view stem) const {
  std::optional<double> out;
  std::string given;
  for (const Unit& u : kUnits) {
    std::string key = std::string(stem) + u.suffix;
    SpecNode v = Get(key);
    if (!v.present()) continue;
    if (out) return v.Error(fmt::format("give the duration once (also given as {})", given));
    BATON_ASSIGN_OR_RETURN(double d, v.AsNumber());
    if (d < 0) return v.Error("must not be negative");
    if (d * u.seconds > kMaxDurationSeconds) {
      return v.Error(fmt::format("{} is too long (at most {} years)", d,
                                 kMaxDurationSeconds / (365.0 * 86400)));
    }
    out = d * u.seconds;
    given = key;
  }
  return out;
}

std::string SpecNode::DurationKey(std::string_view stem) const {
  for (const Unit& u : kUnits) {
    std::string key = std::string(stem) + u.suffix;
    if (Has(key)) return key;
  }
  return std::string(stem) + "_hours";
}

void SpecNode::AddDurationKeys(std::string_view stem, std::set<std::string>* known) {
  for (const Unit& u : kUnits) known->insert(std::string(stem) + u.suffix);
}

Json SpecNode::ToJson() const {
  if (IsMap()) {
    Json j = Json::object();
    for (auto it = node_->begin(); it != node_->end(); ++it) {
      j[it->first.Scalar()] = Child(it->second, "").ToJson();
    }
    return j;
  }
  if (IsList()) {
    Json j = Json::array();
    for (size_t i = 0; i < size(); ++i) j.push_back(Item(i).ToJson());
    return j;
  }
  if (!IsScalar()) return nullptr;
  const std::string& s = node_->Scalar();
  if (node_->Tag() != "!") {  // a plain (unquoted) scalar
    if (s == "true" || s == "false") return s == "true";
    if (s == "null" || s == "~") return nullptr;
    if (std::optional<int64_t> i = ToInt(s)) return *i;
    if (std::optional<double> d = ToDouble(s)) return *d;
  }
  return s;
}

}  // namespace baton
