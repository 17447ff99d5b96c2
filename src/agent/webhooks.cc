#include "agent/webhooks.h"

#include <fmt/format.h>

#include "base/strings.h"
#include "net/http_client.h"

namespace baton {

std::string WebhookBody(const std::string& format, const std::string& text, const Json& facts) {
  if (format == "dingtalk")
    return DumpJson(Json{{"msgtype", "text"}, {"text", {{"content", text}}}});
  if (format == "slack") return DumpJson(Json{{"text", text}});
  Json j = facts;
  j["text"] = text;
  return DumpJson(j);
}

void PostWebhooks(const JobSpec& job, const std::string& store_url, const std::string& instance,
                  const std::function<void(const std::string&)>& print, Env* env) {
  const std::string store = RedactUrl(store_url);
  Json facts = {
      {"run", job.name}, {"status", "complete"}, {"store", store}, {"instance", instance}};
  std::string text = fmt::format("Baton: run '{}' is complete ({}), trained on instance {}",
                                 job.name, store, instance);
  HttpClient http;
  for (const WebhookSpec& w : job.webhooks) {
    std::string body = WebhookBody(w.format, text, facts);
    Status last;
    for (int attempt = 0; attempt < 4; ++attempt) {
      if (attempt > 0) env->SleepMicros(uint64_t{200'000} << attempt);
      HttpRequest req;
      req.method = "POST";
      req.url = w.url;
      req.headers = {{"Content-Type", "application/json"}};
      req.body = body;
      req.total_timeout_ms = 10000;
      Result<HttpResponse> resp = http.Send(req);
      if (resp.ok() && resp->status >= 200 && resp->status < 300) {
        last = Status::Ok();
        break;
      }
      last = resp.ok() ? Unavailable("HTTP {}", resp->status) : resp.status();
    }
    if (last.ok()) {
      print(fmt::format("baton agent: posted the {} webhook to {}", w.format, UrlAuthority(w.url)));
    } else {
      print(fmt::format("baton agent: warning: the {} webhook to {} failed: {}", w.format,
                        UrlAuthority(w.url), last.message()));
    }
  }
}

}  // namespace baton
