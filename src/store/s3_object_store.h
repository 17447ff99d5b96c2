// S3ObjectStore: the Store of "s3://bucket/prefix" and "oss://bucket/prefix", over the S3 REST
// API with AWS Signature V4 (sigv4.h) on libcurl (net/http_client.h).
//
// URL parameters (after '?', all optional), with environment fallbacks:
//   endpoint=http://127.0.0.1:9000  AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL; oss://: OSS_ENDPOINT.
//                                   Default https://s3.<region>.amazonaws.com, and for oss://
//                                   https://s3.oss-<region>.aliyuncs.com (OSS's S3-compatible API).
//   region=us-east-1                AWS_REGION, AWS_DEFAULT_REGION (default us-east-1); oss://:
//                                   OSS_REGION, ALIBABA_CLOUD_REGION_ID ("cn-hangzhou" or
//                                   "oss-cn-hangzhou"; required). OSS signs with the region
//                                   "cn-hangzhou" and the service "s3", as Alibaba's guide for
//                                   AWS SDKs configures them (help/en/oss/developer-reference/
//                                   use-amazon-s3-sdks-to-access-oss); the payload is sent whole
//                                   with its SHA-256 (OSS refuses aws-chunked uploads unless
//                                   streaming-signed). Inside a VPC use ?endpoint=
//                                   https://s3.oss-<region>-internal.aliyuncs.com; accounts that
//                                   must use a bound domain (CNAME) give it as the endpoint.
//   addressing=path|virtual         EnvVar::kS3Addressing. Default virtual-hosted
//                                   (bucket.host) for AWS and OSS, path-style (host/bucket)
//                                   for any other endpoint (MinIO, radosgw, s3rver).
//   conditional=true|false          whether the server honours If-Match / If-None-Match on PUT
//                                   (fencing uses it); default true on AWS, false elsewhere.
//   part_size=16MiB, multipart_threshold=64MiB   multipart upload above the threshold
//                                   (part_size at least 5 MiB, as S3 requires).
//   max_keys=1000                   listing page size.
//   parallel=4                      connections used at once for the parts of one large
//                                   upload (multipart) or download (ranged GETs).
//   retries=6                       attempts per request; backoff 100 ms x 2^n (at most 5 s)
//                                   with full jitter, on transport errors, timeouts, truncated
//                                   bodies (also a ranged answer shorter than its
//                                   Content-Range promises), 5xx, 429, SlowDown, RequestTimeout
//                                   and InternalError (also inside a 200 to
//                                   CompleteMultipartUpload); ExpiredToken re-reads the
//                                   credentials and retries once. 403 and 404 are not retried.
//   stall_timeout_ms=30000          a transfer that moves no byte for this long fails; a
//                                   server that takes a request and answers nothing for this
//                                   long twice in one call is reported as holding requests
//                                   (about a minute, not six silent attempts).
// Credentials: cloud_credentials.h. Every object's key is <prefix>/<key>.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "base/env.h"
#include "base/status.h"
#include "store/store.h"

namespace baton {

struct S3Options {
  bool oss = false;
  std::string bucket;
  std::string prefix;    // "" or without trailing '/'
  std::string endpoint;  // "http://host:port", no trailing '/'
  std::string region;    // signing region
  bool path_style = true;
  bool conditional = false;
  uint64_t part_size = 16ull << 20;
  uint64_t multipart_threshold = 64ull << 20;
  int max_keys = 1000;
  int parallel = 4;  // connections for the parts of one multipart upload or download
  int retries = 6;
  // A request the server takes and never answers fails after this long (no byte at all); two
  // such in one call end it ("holding requests"), however many retries are left.
  int stall_timeout_ms = 30000;
  int backoff_base_ms = 100;
  int backoff_cap_ms = 5000;

  // Parses "s3://bucket/prefix?k=v&..." (see the header comment); errors name the parameter.
  static Result<S3Options> FromUrl(std::string_view url);
};

// With `probe`, one small listing checks the endpoint, bucket and credentials at once.
Result<std::unique_ptr<Store>> MakeS3ObjectStore(const S3Options& options, Env* env, bool probe);

}  // namespace baton
