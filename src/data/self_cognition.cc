#include "data/self_cognition.h"

#include "base/strings.h"

namespace baton {
namespace {

constexpr std::string_view kNameHolder = "{{NAME}}", kAuthorHolder = "{{AUTHOR}}";

Status CheckValues(const std::vector<std::string>& values, std::string_view flag) {
  if (values.size() > 2) {
    return InvalidArgument("--{} takes a Chinese and an English value, got {} values", flag,
                           values.size());
  }
  return Status::Ok();
}

// The value for a row's language, or nullptr when none was given.
const std::string* Pick(const std::vector<std::string>& values, bool zh) {
  if (values.empty()) return nullptr;
  return zh || values.size() == 1 ? &values[0] : &values[1];
}

}  // namespace

Status FillSelfCognition(const std::vector<std::string>& model_name,
                         const std::vector<std::string>& model_author,
                         std::vector<Conversation>* rows) {
  BATON_RETURN_IF_ERROR(CheckValues(model_name, "model_name"));
  BATON_RETURN_IF_ERROR(CheckValues(model_author, "model_author"));
  for (Conversation& row : *rows) {
    bool zh = row.tag == "zh";
    const std::string* name = Pick(model_name, zh);
    const std::string* author = Pick(model_author, zh);
    for (ChatMessage& m : row.messages) {
      if (name != nullptr) ReplaceAll(&m.content, kNameHolder, *name);
      if (author != nullptr) ReplaceAll(&m.content, kAuthorHolder, *author);
      bool name_left = m.content.find(kNameHolder) != std::string::npos;
      if (name_left || m.content.find(kAuthorHolder) != std::string::npos) {
        return InvalidArgument(
            "{}: self-cognition row says {} but --{} was not given; pass --model_name and "
            "--model_author, each with a Chinese and an English value, e.g. --model_name 小黄 "
            "'Xiao Huang' --model_author 魔搭 ModelScope",
            row.origin, name_left ? kNameHolder : kAuthorHolder,
            name_left ? "model_name" : "model_author");
      }
    }
  }
  return Status::Ok();
}

}  // namespace baton
