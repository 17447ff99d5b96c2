// FakeS3Server: an in-memory, path-style S3 server for protocol tests, strict where s3rver is
// lax. It checks every request's SigV4 signature (rebuilt from the bytes on the wire, so a
// mismatch between what the client signed and what it sent is caught) and that
// x-amz-content-sha256 is the SHA-256 of the body received; it keeps objects, multipart uploads
// and conditional PUT (If-Match / If-None-Match) as S3 does, lists with ListObjectsV2
// pagination, and lets a test replace any answer (a 503, a body cut short, no answer at all).
// It runs on the embedded HTTP server (net/http_server.h); requests are handled one at a time,
// one per connection (Connection: close), so a client never reuses a connection.
#pragma once

#include <openssl/evp.h>
#include <strings.h>

#include <atomic>
#include <cstdio>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "net/http_server.h"
#include "s3_test_server.h"
#include "store/sigv4.h"

namespace baton::testing {

struct FakeRequest {
  std::string method;
  std::string path;       // raw, as on the request line: "/bkt/a%20b"
  std::string raw_query;  // raw, without '?'
  std::vector<std::pair<std::string, std::string>> headers;  // names lowercased
  std::string body;
  std::string bucket, key;                   // decoded
  std::map<std::string, std::string> query;  // decoded

  // The first header named `name` (any case), or "".
  std::string Header(std::string_view name) const {
    for (const auto& [k, v] : headers) {
      if (k.size() == name.size() && strncasecmp(k.data(), name.data(), k.size()) == 0) return v;
    }
    return "";
  }
  bool Has(const std::string& q) const { return query.count(q) > 0; }
};

struct FakeResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  long cut_body_at = -1;     // send only this many body bytes (full Content-Length), then close
  bool no_answer = false;    // close the connection without answering
  bool drop_answer = false;  // handle the request as usual, then close without answering

  static FakeResponse Error(int status, const std::string& code, const std::string& message,
                            const std::string& extra = "") {
    FakeResponse r;
    r.status = status;
    r.headers = {{"Content-Type", "application/xml"}};
    r.body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>" + code +
             "</Code><Message>" + message + "</Message>" + extra +
             "<RequestId>req-1</RequestId></Error>";
    return r;
  }
};

class FakeS3Server {
 public:
  // Replaces the built-in answer to a request when it returns one.
  using Fault = std::function<std::optional<FakeResponse>(const FakeRequest&)>;

  FakeS3Server(std::string bucket, SigV4Credentials credentials, std::string region = "")
      : bucket_(std::move(bucket)), credentials_(std::move(credentials)), region_(region) {
    http_.SetMaxBodyBytes(kMaxPutBytes);
    // Every path is the fake's: the interceptor answers all requests.
    http_.SetInterceptor([this](const HttpServerRequest& r) -> std::optional<HttpServerResponse> {
      return Answer(r);
    });
    if (Status s = http_.Start(); !s.ok()) {
      std::fprintf(stderr, "FakeS3Server: %s\n", s.ToString().c_str());
    }
  }
  ~FakeS3Server() { http_.Stop(); }  // before the state the handlers use goes away

  std::string endpoint() const { return http_.url(); }
  void set_fault(Fault fault) {
    std::lock_guard<std::mutex> lock(mu_);
    fault_ = std::move(fault);
  }
  // Compare If-Match on PUT with the ETag without its quotes, as Ceph radosgw 16 does.
  void set_bare_if_match_on_put(bool bare) { bare_if_match_on_put_ = bare; }
  // Lists every key whatever `prefix` asks for, as some S3-compatible servers do.
  void set_ignore_list_prefix(bool ignore) { ignore_list_prefix_ = ignore; }
  // Smallest part but the last of a multipart upload (S3: 5 MiB).
  void set_min_part_size(size_t n) { min_part_size_ = n; }

  std::vector<FakeRequest> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return log_;
  }
  void clear_requests() {
    std::lock_guard<std::mutex> lock(mu_);
    log_.clear();
  }
  std::map<std::string, std::string> objects() {
    std::lock_guard<std::mutex> lock(mu_);
    return objects_;
  }
  size_t open_uploads() {
    std::lock_guard<std::mutex> lock(mu_);
    return uploads_.size();
  }
  int bad_signatures() const { return bad_signatures_; }
  int bad_payload_hashes() const { return bad_payload_hashes_; }
  int aborted_uploads() const { return aborted_uploads_; }
  // S3's ETags: the MD5 of the content, and for a multipart object the MD5 of the parts' binary
  // MD5s with "-<parts>".
  static std::string ETagOf(const std::string& data) { return "\"" + Md5Hex(data) + "\""; }
  static std::string MultipartETagOf(const std::vector<std::string>& parts) {
    std::string md5s;
    for (const std::string& p : parts) md5s += Md5(p);
    return "\"" + Md5Hex(md5s) + "-" + std::to_string(parts.size()) + "\"";
  }
  std::string etag(const std::string& key) {
    std::lock_guard<std::mutex> lock(mu_);
    return etags_[key];
  }

 private:
  static std::string Md5(std::string_view data) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(data.data(), data.size(), digest, &n, EVP_md5(), nullptr);
    return std::string(reinterpret_cast<char*>(digest), n);
  }
  static std::string Md5Hex(std::string_view data) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : Md5(data)) {
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
    return out;
  }
  static std::string XmlEscape(const std::string& s) {
    std::string out;
    for (char c : s) {
      if (c == '&') {
        out += "&amp;";
      } else if (c == '<') {
        out += "&lt;";
      } else if (c == '>') {
        out += "&gt;";
      } else {
        out += c;
      }
    }
    return out;
  }

  // The request as the fake sees it: the path as on the wire (what the client signed).
  static FakeRequest ToFake(const HttpServerRequest& h) {
    FakeRequest r;
    r.method = h.method;
    r.path = h.target.substr(0, h.target.find('?'));
    r.raw_query = h.raw_query;
    r.headers = h.headers;
    r.body = h.body;
    r.query = h.query;
    std::string_view p = r.path;
    p.remove_prefix(1);
    size_t slash = p.find('/');
    r.bucket = PercentDecode(p.substr(0, slash));
    if (slash != std::string_view::npos) r.key = PercentDecode(p.substr(slash + 1));
    return r;
  }

  HttpServerResponse Answer(const HttpServerRequest& request) {
    FakeResponse f = Handle(ToFake(request));
    HttpServerResponse r;
    r.status = f.status;
    r.headers = std::move(f.headers);
    r.body = std::move(f.body);
    r.cut_body_at = f.cut_body_at;
    r.drop_connection = f.no_answer;
    r.close_connection = true;
    return r;
  }

  // The signature the client should have sent, from the request as received.
  std::optional<FakeResponse> CheckSignature(const FakeRequest& r) {
    std::string auth = r.Header("authorization");
    auto field = [&](const std::string& name) {
      size_t p = auth.find(name + "=");
      if (p == std::string::npos) return std::string();
      p += name.size() + 1;
      size_t e = auth.find_first_of(", ", p);
      return auth.substr(p, e == std::string::npos ? std::string::npos : e - p);
    };
    std::string credential = field("Credential");
    std::vector<std::string> scope;
    for (size_t s = 0, e; s <= credential.size(); s = e + 1) {
      e = credential.find('/', s);
      if (e == std::string::npos) e = credential.size();
      scope.push_back(credential.substr(s, e - s));
    }
    if (!auth.starts_with("AWS4-HMAC-SHA256 ") || scope.size() != 5 ||
        scope[0] != credentials_.access_key_id) {
      ++bad_signatures_;
      return FakeResponse::Error(
          403, "InvalidAccessKeyId",
          "The AWS Access Key Id you provided does not exist in our records.");
    }
    HttpRequestToSign sign;
    sign.method = r.method;
    sign.path = r.path;
    std::string_view qs = r.raw_query;
    while (!qs.empty()) {
      size_t amp = qs.find('&');
      std::string_view pair = qs.substr(0, amp);
      size_t eq = pair.find('=');
      sign.query.emplace_back(std::string(pair.substr(0, eq)),
                              eq == std::string_view::npos ? "" : std::string(pair.substr(eq + 1)));
      qs = amp == std::string_view::npos ? std::string_view() : qs.substr(amp + 1);
    }
    std::string signed_headers = field("SignedHeaders");
    for (size_t s = 0, e; s < signed_headers.size(); s = e + 1) {
      e = signed_headers.find(';', s);
      if (e == std::string::npos) e = signed_headers.size();
      std::string name = signed_headers.substr(s, e - s);
      sign.headers.emplace_back(name, r.Header(name));
    }
    sign.payload_sha256_hex = r.Header("x-amz-content-sha256");
    SigV4Params params;
    params.amz_date = r.Header("x-amz-date");
    params.region = scope[2];
    params.service = scope[3];
    params.normalize_path = false;
    Result<std::string> want = AuthorizationHeader(sign, params, credentials_);
    bool region_ok = region_.empty() || region_ == scope[2];
    if (!want.ok() || *want != auth || !region_ok || scope[3] != "s3") {
      ++bad_signatures_;
      return FakeResponse::Error(
          403, "SignatureDoesNotMatch",
          "The request signature we calculated does not match the signature you provided. Check "
          "your key and signing method.",
          "<SignatureProvided>" + field("Signature") + "</SignatureProvided>");
    }
    if (sign.payload_sha256_hex != "UNSIGNED-PAYLOAD" &&
        sign.payload_sha256_hex != Sha256Hex(r.body)) {
      ++bad_payload_hashes_;
      return FakeResponse::Error(400, "XAmzContentSHA256Mismatch",
                                 "The provided 'x-amz-content-sha256' header does not match what "
                                 "was computed.");
    }
    return std::nullopt;
  }

  FakeResponse Handle(const FakeRequest& r) {
    std::lock_guard<std::mutex> lock(mu_);
    log_.push_back(r);
    if (fault_) {
      if (std::optional<FakeResponse> f = fault_(r)) {
        if (!f->drop_answer) return *f;
        FakeResponse handled = Serve(r);
        handled.no_answer = true;
        return handled;
      }
    }
    return Serve(r);
  }

  FakeResponse Serve(const FakeRequest& r) {
    if (std::optional<FakeResponse> bad = CheckSignature(r)) return *bad;
    if (r.bucket != bucket_) {
      return FakeResponse::Error(404, "NoSuchBucket", "The specified bucket does not exist");
    }
    if (r.key.empty()) {
      if (r.method == "GET" && r.Has("list-type")) return List(r);
      return FakeResponse::Error(400, "InvalidRequest", "unsupported bucket request");
    }
    if (r.Has("uploadId") || r.Has("uploads")) return Multipart(r);
    auto it = objects_.find(r.key);
    if (r.method == "PUT") {
      std::string if_match = r.Header("if-match"), if_none = r.Header("if-none-match");
      if (!if_match.empty() && it == objects_.end()) {
        return FakeResponse::Error(404, "NoSuchKey", "The specified key does not exist.");
      }
      if ((!if_match.empty() &&
           (bare_if_match_on_put_ ? etags_[r.key].substr(1, etags_[r.key].size() - 2)
                                  : etags_[r.key]) != if_match) ||
          (if_none == "*" && it != objects_.end())) {
        return FakeResponse::Error(412, "PreconditionFailed",
                                   "At least one of the pre-conditions you specified did not hold");
      }
      objects_[r.key] = r.body;
      etags_[r.key] = ETagOf(r.body);
      FakeResponse ok;
      ok.headers = {{"ETag", ETagOf(r.body)}};
      return ok;
    }
    if (r.method == "DELETE") {
      if (it != objects_.end()) objects_.erase(it);
      etags_.erase(r.key);
      FakeResponse ok;
      ok.status = 204;
      return ok;
    }
    if (r.method != "GET" && r.method != "HEAD") {
      return FakeResponse::Error(405, "MethodNotAllowed", "not allowed");
    }
    if (it == objects_.end()) {
      return FakeResponse::Error(404, "NoSuchKey", "The specified key does not exist.");
    }
    std::string if_match = r.Header("if-match");
    if (!if_match.empty() && if_match != etags_[r.key]) {
      return FakeResponse::Error(412, "PreconditionFailed",
                                 "At least one of the pre-conditions you specified did not hold");
    }
    const std::string& data = it->second;
    FakeResponse ok;
    ok.headers = {{"ETag", etags_[r.key]}};
    std::string range = r.Header("range");
    if (!range.empty()) {
      uint64_t a = 0, b = 0;
      if (std::sscanf(range.c_str(), "bytes=%lu-%lu", &a, &b) != 2 || a >= data.size()) {
        return FakeResponse::Error(416, "InvalidRange", "The requested range is not satisfiable");
      }
      b = std::min<uint64_t>(b, data.size() - 1);
      ok.status = 206;
      ok.headers.emplace_back("Content-Range", "bytes " + std::to_string(a) + "-" +
                                                   std::to_string(b) + "/" +
                                                   std::to_string(data.size()));
      ok.body = data.substr(a, b - a + 1);
    } else {
      ok.body = data;
    }
    return ok;
  }

  FakeResponse List(const FakeRequest& r) {
    std::string prefix = r.query.count("prefix") ? r.query.at("prefix") : "";
    size_t max_keys = r.query.count("max-keys") ? std::stoul(r.query.at("max-keys")) : 1000;
    std::string after = r.query.count("continuation-token") ? r.query.at("continuation-token") : "";
    std::string xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult><Name>" +
                      bucket_ + "</Name><Prefix>" + XmlEscape(prefix) + "</Prefix>";
    std::string contents, last;
    size_t n = 0;
    bool truncated = false;
    const std::string match = ignore_list_prefix_ ? "" : prefix;
    for (auto it = after.empty() ? objects_.lower_bound(match) : objects_.upper_bound(after);
         it != objects_.end() && it->first.starts_with(match); ++it) {
      if (n == max_keys) {
        truncated = true;
        break;
      }
      contents += "<Contents><Key>" + XmlEscape(it->first) + "</Key><Size>" +
                  std::to_string(it->second.size()) + "</Size><ETag>" +
                  XmlEscape(etags_[it->first]) + "</ETag></Contents>";
      last = it->first;
      ++n;
    }
    xml += "<KeyCount>" + std::to_string(n) + "</KeyCount><MaxKeys>" + std::to_string(max_keys) +
           "</MaxKeys><IsTruncated>" + (truncated ? "true" : "false") + "</IsTruncated>";
    if (truncated) xml += "<NextContinuationToken>" + XmlEscape(last) + "</NextContinuationToken>";
    xml += contents + "</ListBucketResult>";
    FakeResponse ok;
    ok.headers = {{"Content-Type", "application/xml"}};
    ok.body = xml;
    return ok;
  }

  FakeResponse Multipart(const FakeRequest& r) {
    FakeResponse ok;
    if (r.method == "POST" && r.Has("uploads")) {
      std::string id = "upload-" + std::to_string(++next_upload_);
      uploads_[id].key = r.key;
      ok.body = "<InitiateMultipartUploadResult><Bucket>" + bucket_ + "</Bucket><Key>" +
                XmlEscape(r.key) + "</Key><UploadId>" + id +
                "</UploadId></InitiateMultipartUploadResult>";
      return ok;
    }
    auto up = uploads_.find(r.query.at("uploadId"));
    if (up == uploads_.end() || up->second.key != r.key) {
      return FakeResponse::Error(404, "NoSuchUpload", "The specified upload does not exist.");
    }
    if (r.method == "PUT") {
      int part = std::stoi(r.query.at("partNumber"));
      up->second.parts[part] = r.body;
      ok.headers = {{"ETag", ETagOf(r.body)}};
      return ok;
    }
    if (r.method == "DELETE") {
      uploads_.erase(up);
      ++aborted_uploads_;
      ok.status = 204;
      return ok;
    }
    // CompleteMultipartUpload: the listed parts, in ascending order, with their ETags.
    std::string data;
    int previous = 0;
    size_t pos = 0;
    std::vector<size_t> sizes;
    std::vector<std::string> parts;
    while ((pos = r.body.find("<Part>", pos)) != std::string::npos) {
      size_t end = r.body.find("</Part>", pos);
      std::string part_xml = r.body.substr(pos, end - pos);
      pos = end;
      auto inner = [&](const std::string& tag) {
        size_t a = part_xml.find("<" + tag + ">") + tag.size() + 2;
        return part_xml.substr(a, part_xml.find("</" + tag + ">") - a);
      };
      int number = std::stoi(inner("PartNumber"));
      auto p = up->second.parts.find(number);
      if (number <= previous || p == up->second.parts.end() || ETagOf(p->second) != inner("ETag")) {
        return FakeResponse::Error(400, "InvalidPart",
                                   "One or more of the specified parts could not be found.");
      }
      previous = number;
      sizes.push_back(p->second.size());
      parts.push_back(p->second);
      data += p->second;
    }
    for (size_t i = 0; i + 1 < sizes.size(); ++i) {
      if (sizes[i] < min_part_size_) {
        return FakeResponse::Error(
            400, "EntityTooSmall",
            "Your proposed upload is smaller than the minimum allowed object size.");
      }
    }
    objects_[r.key] = data;
    etags_[r.key] = MultipartETagOf(parts);
    uploads_.erase(up);
    ok.body = "<CompleteMultipartUploadResult><Key>" + XmlEscape(r.key) + "</Key><ETag>" +
              XmlEscape(etags_[r.key]) + "</ETag></CompleteMultipartUploadResult>";
    return ok;
  }

  struct Upload {
    std::string key;
    std::map<int, std::string> parts;
  };

  // S3 takes single PUTs up to 5 GiB; the tests send a few MiB.
  static constexpr size_t kMaxPutBytes = 256 << 20;

  std::string bucket_;
  SigV4Credentials credentials_;
  std::string region_;
  std::mutex mu_;
  Fault fault_;
  std::vector<FakeRequest> log_;
  std::map<std::string, std::string> objects_;
  std::map<std::string, std::string> etags_;  // of objects_
  std::map<std::string, Upload> uploads_;
  int next_upload_ = 0;
  size_t min_part_size_ = 5 << 20;
  std::atomic<bool> bare_if_match_on_put_{false};
  std::atomic<bool> ignore_list_prefix_{false};
  std::atomic<int> bad_signatures_{0}, bad_payload_hashes_{0}, aborted_uploads_{0};
  HttpServer http_;  // last: destroyed (stopped) first
};

}  // namespace baton::testing
