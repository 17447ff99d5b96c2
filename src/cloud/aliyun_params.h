// The parameters of an Alibaba RPC-style action (ECS 2014-05-26, ESS 2014-08-28), flattened the
// way those APIs want them: lists with 1-based indices ("VSwitchIds.1"), structs with dots
// ("CapacityOptions.SpotAutoReplaceOnDemand"), lists of structs both ("Tag.1.Key",
// "LaunchTemplateOverride.2.InstanceType"), booleans as "true"/"false". Source: the ESS/ECS SDK
// request classes cited in shared/notes/cloud-apis.md 2.1 (e.g. aliyun-openapi-java-sdk
// ModifyScalingGroupRequest.java). Built from typed calls or from a Json value.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/json.h"
#include "base/status.h"

namespace baton {

class RpcParams {
 public:
  // Each setter replaces an earlier value of the same flat name.
  RpcParams& Set(std::string_view name, std::string_view value);
  RpcParams& Set(std::string_view name, const char* value) {
    return Set(name, std::string_view(value));
  }
  RpcParams& Set(std::string_view name, int64_t value);
  RpcParams& Set(std::string_view name, int value) { return Set(name, int64_t{value}); }
  RpcParams& Set(std::string_view name, bool value);
  // name.1, name.2, ... (an empty list sets nothing).
  RpcParams& SetList(std::string_view name, const std::vector<std::string>& values);
  // name.<field> for every field of `fields` (which may itself hold lists and structs).
  RpcParams& SetStruct(std::string_view name, const RpcParams& fields);
  // name.1.<field>, name.2.<field>, ...
  RpcParams& SetStructList(std::string_view name, const std::vector<RpcParams>& items);
  // Flattens any Json under `name`: an object as a struct, an array as a list, a string as is,
  // numbers and booleans as their JSON text; null sets nothing. ECS's few JSON-string parameters
  // (DescribeInstances.InstanceIds = '["i-a"]') are Set(name, json.dump()) instead.
  RpcParams& SetJson(std::string_view name, const Json& value);

  // Every member of a Json object, flattened; InvalidArgument when `object` is not an object.
  static Result<RpcParams> FromJson(const Json& object);

  bool Has(std::string_view name) const { return values_.count(std::string(name)) > 0; }
  // The value of a flat name, or "".
  std::string Get(std::string_view name) const;
  void Erase(std::string_view name) { values_.erase(std::string(name)); }
  // The flat pairs, sorted by name.
  std::vector<std::pair<std::string, std::string>> pairs() const {
    return {values_.begin(), values_.end()};
  }
  const std::map<std::string, std::string>& values() const { return values_; }

 private:
  std::map<std::string, std::string> values_;
};

}  // namespace baton
