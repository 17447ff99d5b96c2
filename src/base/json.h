// JSON helpers over nlohmann::json whose errors name the file, line and key.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "base/env.h"
#include "base/status.h"

namespace baton {

using Json = nlohmann::json;

// Parses `text`; on error the message is "<source>:<line>:<column>: <what>".
Result<Json> ParseJson(std::string_view text, std::string_view source);
Result<Json> ReadJsonFile(Env* env, const std::string& path);

// Typed access to an object member. A missing key, a wrong type or a value out of range gives an
// error naming `source` and the key, e.g. "model/config.json: key 'hidden_size': expected an
// integer, got string". Numbers are finite; integers fit int64 (see JsonAsInt).
Result<int64_t> JsonInt(const Json& obj, std::string_view key, std::string_view source);
Result<double> JsonNumber(const Json& obj, std::string_view key, std::string_view source);
Result<std::string> JsonString(const Json& obj, std::string_view key, std::string_view source);
Result<bool> JsonBool(const Json& obj, std::string_view key, std::string_view source);

// The same checks on a value itself (a list item); the error says what is wrong, the caller
// adds where. An integer is a JSON integer in int64's range or a whole float within 2^53
// (2.0, not 2.5 or 1e30); a number is finite (a literal such as 1e999 parses as inf).
inline constexpr double kMaxExactInt = 9007199254740992.0;  // 2^53
Result<int64_t> JsonAsInt(const Json& v);
Result<double> JsonAsNumber(const Json& v);

}  // namespace baton
