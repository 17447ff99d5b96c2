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

// Typed access to an object member. A missing key or wrong type gives an error naming
// `source` and the key, e.g. "model/config.json: key 'hidden_size': expected integer, got string".
Result<int64_t> JsonInt(const Json& obj, std::string_view key, std::string_view source);
Result<double> JsonNumber(const Json& obj, std::string_view key, std::string_view source);
Result<std::string> JsonString(const Json& obj, std::string_view key, std::string_view source);
Result<bool> JsonBool(const Json& obj, std::string_view key, std::string_view source);

}  // namespace baton
