#include "store/s3_store.h"

#include "store/s3_object_store.h"

namespace baton {

Result<std::unique_ptr<Store>> OpenS3Store(std::string_view url, OpenMode mode, Env* env) {
  BATON_ASSIGN_OR_RETURN(S3Options options, S3Options::FromUrl(url));
  // A reader (kMustExist) wants to know at once when the bucket or endpoint is not there.
  return MakeS3ObjectStore(options, env, mode == OpenMode::kMustExist);
}

}  // namespace baton
