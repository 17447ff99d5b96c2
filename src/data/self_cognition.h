// The self-cognition dataset (ms-swift's `swift/self-cognition`): rows
// {"query", "response", "tag": "zh"|"en"} whose text says {{NAME}} and {{AUTHOR}}, filled in from
// --model_name and --model_author (each: a Chinese and an English value).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "data/conversation.h"

namespace baton {

inline constexpr std::string_view kSelfCognitionName = "self-cognition";

// The shipped examples/data/self_cognition.jsonl, compiled into the library by CMake (see the
// "embedded self-cognition" block of CMakeLists.txt), so the name resolves on a machine that
// has only the binary.
std::string_view EmbeddedSelfCognitionJsonl();

// Replaces {{NAME}} and {{AUTHOR}} in every message of `rows`: a row tagged "zh" gets the first
// value, any other row the second; one value serves both languages (as in ms-swift). ms-swift
// leaves a placeholder in place when its value is missing; training a model to say "{{NAME}}" is
// never wanted, so that is an error here telling the user which flags to pass.
Status FillSelfCognition(const std::vector<std::string>& model_name,
                         const std::vector<std::string>& model_author,
                         std::vector<Conversation>* rows);

}  // namespace baton
