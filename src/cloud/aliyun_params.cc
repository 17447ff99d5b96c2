#include "cloud/aliyun_params.h"

namespace baton {
namespace {

std::string Join(std::string_view prefix, std::string_view name) {
  return std::string(prefix) + "." + std::string(name);
}

}  // namespace

RpcParams& RpcParams::Set(std::string_view name, std::string_view value) {
  values_[std::string(name)] = std::string(value);
  return *this;
}

RpcParams& RpcParams::Set(std::string_view name, int64_t value) {
  return Set(name, std::string_view(std::to_string(value)));
}

RpcParams& RpcParams::Set(std::string_view name, bool value) {
  return Set(name, std::string_view(value ? "true" : "false"));
}

RpcParams& RpcParams::SetList(std::string_view name, const std::vector<std::string>& values) {
  for (size_t i = 0; i < values.size(); ++i) Set(Join(name, std::to_string(i + 1)), values[i]);
  return *this;
}

RpcParams& RpcParams::SetStruct(std::string_view name, const RpcParams& fields) {
  for (const auto& [field, value] : fields.values_) Set(Join(name, field), value);
  return *this;
}

RpcParams& RpcParams::SetStructList(std::string_view name, const std::vector<RpcParams>& items) {
  for (size_t i = 0; i < items.size(); ++i) SetStruct(Join(name, std::to_string(i + 1)), items[i]);
  return *this;
}

RpcParams& RpcParams::SetJson(std::string_view name, const Json& value) {
  if (value.is_null()) return *this;
  if (value.is_object()) {
    for (const auto& [field, member] : value.items()) SetJson(Join(name, field), member);
  } else if (value.is_array()) {
    for (size_t i = 0; i < value.size(); ++i) SetJson(Join(name, std::to_string(i + 1)), value[i]);
  } else if (value.is_string()) {
    Set(name, value.get<std::string>());
  } else {
    Set(name, DumpJson(value));  // numbers and booleans: 5, 0.5, true
  }
  return *this;
}

Result<RpcParams> RpcParams::FromJson(const Json& object) {
  if (!object.is_object()) {
    return InvalidArgument("RPC parameters: expected a JSON object, got {}", object.type_name());
  }
  RpcParams p;
  for (const auto& [name, value] : object.items()) p.SetJson(name, value);
  return p;
}

std::string RpcParams::Get(std::string_view name) const {
  auto it = values_.find(std::string(name));
  return it == values_.end() ? "" : it->second;
}

}  // namespace baton
