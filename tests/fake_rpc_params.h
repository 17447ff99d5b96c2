// What the fake Alibaba Cloud's services (fake_ecs.cc, fake_ess.cc) share to read an action's
// parameters and to answer its errors as shared/notes/cloud-apis.md 2.1 shows them:
// MissingParameter / InvalidParameter 400 naming the parameter ("The specified parameter
// \"X\" ..."). A parameter a service does not know is refused, not ignored, so that a typo in a
// client fails here instead of on the real service.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/json.h"

namespace baton::testing {

// The answer of one RPC action: a JSON body (RequestId is added by FakeAliyun) or an error.
struct RpcAnswer {
  int http_status = 200;
  Json body = Json::object();

  static RpcAnswer Ok(Json body) { return RpcAnswer{200, std::move(body)}; }
  static RpcAnswer Error(int http_status, const std::string& code, const std::string& message) {
    return RpcAnswer{http_status, Json{{"Code", code}, {"Message", message}}};
  }
};

inline constexpr size_t kMaxUserDataBytes = 16 * 1024;  // notes 2.2/2.3: "<= 16 KB raw"
inline constexpr size_t kMaxClientTokenBytes = 64;      // notes 2.1: <= 64 ASCII characters
inline constexpr size_t kMaxTags = 20;

int64_t FakeNowMs();
// ECS and ESS write CreationTime to the minute: "2020-05-18T03:11Z" (notes 2.2, 2.3); "" for 0.
std::string MinuteTime(int64_t unix_ms);
bool Contains(const std::vector<std::string>& list, const std::string& value);

RpcAnswer Missing(const std::string& name);
RpcAnswer Invalid(const std::string& name, const std::string& why);
RpcAnswer RegionNotFound();
// A ClientToken is at most 64 printable ASCII characters.
bool ValidClientToken(const std::string& token);

// notes 2.1: a request with a ClientToken seen before is that request again: the first answer,
// or IdempotentParameterMismatch (400) when the parameters differ. An empty token is never seen.
class ClientTokens {
 public:
  std::optional<RpcAnswer> Replay(const std::string& token, const Json& params) const;
  void Remember(const std::string& token, const Json& params, const Json& answer);

 private:
  std::map<std::string, std::pair<Json, Json>> seen_;  // token -> (params, answer)
};

// Reads one action's parameters (strings, or lists and structs as ParseRpcParameters made them);
// the first problem found becomes error(), and later reads return their fallbacks. `service`
// names the fake in the message for an unknown parameter ("ECS"); `prefix` is put before every
// name in a message, for the members of a struct ("CapacityOptions.").
class ParamReader {
 public:
  ParamReader(const Json& params, std::string service, std::string prefix = "")
      : p_(params), service_(std::move(service)), prefix_(std::move(prefix)) {}

  const std::optional<RpcAnswer>& error() const { return error_; }
  bool Has(const char* name) const { return p_.is_object() && p_.contains(name); }

  // Every parameter must be in `known` or `also`.
  void OnlyKnown(std::initializer_list<std::string_view> known,
                 std::span<const std::string_view> also = {});
  std::string String(const char* name, bool required = false);
  std::string OneOf(const char* name, std::initializer_list<std::string_view> allowed,
                    std::string fallback);
  int64_t Int(const char* name, int64_t lo, int64_t hi, int64_t fallback);
  // Present and valid, or nullopt (absent, or an error was recorded).
  std::optional<int64_t> OptionalInt(const char* name, int64_t lo, int64_t hi);
  double Double(const char* name, double lo, double hi, double fallback);
  bool Bool(const char* name, bool fallback);
  std::optional<bool> OptionalBool(const char* name);
  // Name.1 .. Name.N (at most `max`), each a non-empty string.
  std::vector<std::string> List(const char* name, size_t max);
  // Name.X ...: the struct's members (an empty object when absent).
  Json Struct(const char* name);
  // Name.1.X .. Name.N.X (at most `max`): each item's members.
  std::vector<Json> StructList(const char* name, size_t max);
  // Tag.N.Key / Tag.N.Value: a list of {"Key", "Value"}; Key required, at most kMaxTags.
  std::vector<std::pair<std::string, std::string>> Tags();

  // Records `answer` unless an error was recorded already; a sub-reader's error is passed up so.
  void Fail(RpcAnswer answer) {
    if (!error_) error_ = std::move(answer);
  }
  void Fail(const std::optional<RpcAnswer>& answer) {
    if (answer) Fail(*answer);
  }

 private:
  std::string Name(std::string_view name) const { return prefix_ + std::string(name); }

  const Json& p_;
  std::string service_;
  std::string prefix_;
  std::optional<RpcAnswer> error_;
};

#define FAKE_RPC_RETURN_IF_ERROR(reader)            \
  do {                                              \
    if ((reader).error()) return *(reader).error(); \
  } while (0)

}  // namespace baton::testing
