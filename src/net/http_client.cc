#include "net/http_client.h"

#include <curl/curl.h>
#include <strings.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>

namespace baton {

namespace {

std::once_flag g_curl_init;

struct Transfer {
  const HttpRequest* request = nullptr;
  HttpResponse* response = nullptr;
  size_t sent = 0;
  Status sink_status;
  bool sink_began = false;
  uint64_t received = 0;
};

size_t ReadBody(char* buffer, size_t size, size_t nitems, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t n = std::min(size * nitems, t->request->body.size() - t->sent);
  std::memcpy(buffer, t->request->body.data() + t->sent, n);
  t->sent += n;
  return n;
}

size_t WriteBody(char* data, size_t size, size_t nmemb, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t n = size * nmemb;
  t->received += n;
  if (t->request->sink && t->response->status >= 200 && t->response->status < 300) {
    if (!t->sink_began) {
      t->sink_began = true;
      if (t->request->sink_begin) t->sink_status = t->request->sink_begin(*t->response);
      if (!t->sink_status.ok()) return 0;
    }
    t->sink_status = t->request->sink(std::string_view(data, n));
    if (!t->sink_status.ok()) return 0;  // aborts the transfer
  } else {
    t->response->body.append(data, n);
  }
  return n;
}

size_t WriteHeader(char* data, size_t size, size_t nitems, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(data, size * nitems);
  if (line.starts_with("HTTP/")) {
    // A new response (after a 100 Continue or a redirect): start over.
    t->response->headers.clear();
    t->sink_began = false;
    size_t sp = line.find(' ');
    t->response->status =
        sp == std::string_view::npos ? 0 : std::atol(std::string(line.substr(sp + 1, 3)).c_str());
    return size * nitems;
  }
  size_t colon = line.find(':');
  if (colon != std::string_view::npos) {
    std::string name(line.substr(0, colon));
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' '))
      value.remove_suffix(1);
    t->response->headers.emplace_back(std::move(name), std::string(value));
  }
  return size * nitems;
}

}  // namespace

std::string HttpResponse::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k == name) return v;
  }
  return "";
}

std::string UrlAuthority(std::string_view url) {
  size_t scheme = url.find("://");
  if (scheme != std::string_view::npos) url.remove_prefix(scheme + 3);
  url = url.substr(0, url.find_first_of("/?#"));
  if (size_t at = url.rfind('@'); at != std::string_view::npos) url.remove_prefix(at + 1);
  return std::string(url);
}

HttpClient::HttpClient() {
  std::call_once(g_curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  curl_ = curl_easy_init();
}

HttpClient::~HttpClient() {
  if (curl_) curl_easy_cleanup(static_cast<CURL*>(curl_));
}

Result<HttpResponse> HttpClient::Send(const HttpRequest& request, bool* no_answer) {
  std::lock_guard<std::mutex> lock(mu_);
  if (no_answer) *no_answer = false;
  CURL* curl = static_cast<CURL*>(curl_);
  if (!curl) return Internal("curl_easy_init failed");
  curl_easy_reset(curl);
  HttpResponse response;
  Transfer t;
  t.request = &request;
  t.response = &response;
  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(request.connect_timeout_ms));
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME,
                   static_cast<long>(std::max(1, request.stall_timeout_ms / 1000)));
  if (request.total_timeout_ms > 0) {
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(request.total_timeout_ms));
  }
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, WriteBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, WriteHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);
  const std::string& m = request.method;
  if (m == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (m == "PUT") {
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, ReadBody);
    curl_easy_setopt(curl, CURLOPT_READDATA, &t);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  } else if (m == "POST") {
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(request.body.size()));
  } else if (m != "GET") {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, m.c_str());
  }
  struct curl_slist* headers = nullptr;
  for (const auto& [k, v] : request.headers) {
    headers = curl_slist_append(headers, (k + ": " + v).c_str());
  }
  // No "Expect: 100-continue" round trip; no default Accept/Content-Type curl would add.
  headers = curl_slist_append(headers, "Expect:");
  headers = curl_slist_append(headers, "Accept:");
  if (m == "POST" || m == "PUT") {
    bool has_type = std::any_of(request.headers.begin(), request.headers.end(), [](const auto& h) {
      return strcasecmp(h.first.c_str(), "content-type") == 0;
    });
    if (!has_type) headers = curl_slist_append(headers, "Content-Type:");
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  CURLcode rc = curl_easy_perform(curl);
  curl_slist_free_all(headers);
  if (!t.sink_status.ok()) return t.sink_status;
  std::string where = UrlAuthority(request.url);
  if (rc == CURLE_OPERATION_TIMEDOUT && response.headers.empty() && t.received == 0) {
    long sent = 0;  // bytes of the request that went out: the connection was made
    curl_easy_getinfo(curl, CURLINFO_REQUEST_SIZE, &sent);
    if (sent > 0) {
      if (no_answer) *no_answer = true;
      return Unavailable("{} {}: the server sent no answer in {} s{}", request.method, where,
                         std::max(1, request.stall_timeout_ms / 1000),
                         " (connected, request sent, not even a status line came back)");
    }
  }
  if (rc != CURLE_OK) {
    return Unavailable("{} {}: {}", request.method, where, curl_easy_strerror(rc));
  }
  long code = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
  response.status = code;
  if (m != "HEAD") {
    std::string length = response.Header("content-length");
    if (!length.empty() && std::strtoull(length.c_str(), nullptr, 10) != t.received) {
      return Unavailable("{} {}: body cut short ({} of {} bytes)", request.method, where,
                         t.received, length);
    }
  }
  return response;
}

}  // namespace baton
