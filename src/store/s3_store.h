// S3Store: a Store over an S3-compatible bucket ("s3://bucket/prefix", "oss://bucket/prefix").
#pragma once

#include <memory>
#include <string_view>

#include "base/env.h"
#include "base/status.h"
#include "store/store.h"

namespace baton {

// Opens "s3://bucket/prefix" or "oss://bucket/prefix".
Result<std::unique_ptr<Store>> OpenS3Store(std::string_view url, OpenMode mode, Env* env);

}  // namespace baton
