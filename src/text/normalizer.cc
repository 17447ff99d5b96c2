#include "text/normalizer.h"

#include "text/unicode.h"

namespace baton {

Result<Normalizer> Normalizer::FromJson(const Json& normalizer, std::string_view source) {
  Normalizer n;
  if (!normalizer.is_null()) BATON_RETURN_IF_ERROR(n.Add(normalizer, source));
  return n;
}

Status Normalizer::Add(const Json& j, std::string_view source) {
  BATON_ASSIGN_OR_RETURN(std::string type,
                         JsonString(j, "type", fmt::format("{}: normalizer", source)));
  if (type == "NFC") {
    steps_.push_back(Step::kNfc);
  } else if (type == "Sequence") {
    auto it = j.find("normalizers");
    if (it == j.end() || !it->is_array()) {
      return InvalidArgument("{}: normalizer Sequence: key 'normalizers': expected an array",
                             source);
    }
    for (const Json& child : *it) BATON_RETURN_IF_ERROR(Add(child, source));
  } else {
    return Unimplemented("{}: normalizer type '{}' is not supported (supported: NFC, Sequence)",
                         source, type);
  }
  return Status::Ok();
}

std::string Normalizer::Apply(std::string_view text) const {
  std::string out(text);
  for (Step s : steps_) {
    switch (s) {
      case Step::kNfc:
        out = NormalizeNfc(out);
        break;
    }
  }
  return out;
}

}  // namespace baton
