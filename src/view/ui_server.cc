#include "view/ui_server.h"

#include <optional>
#include <string>
#include <utility>

#include "view/ui_page.h"

namespace baton::view {

UiServer::UiServer(std::unique_ptr<Store> store, UiServerOptions options)
    : store_(std::move(store)), options_(std::move(options)) {}

UiServer::~UiServer() { server_.Stop(); }

Result<std::unique_ptr<UiServer>> UiServer::Start(std::unique_ptr<Store> store,
                                                  UiServerOptions options) {
  std::unique_ptr<UiServer> ui(new UiServer(std::move(store), std::move(options)));
  UiServer* self = ui.get();
  const std::string page = RenderLivePage();
  auto html = [page](const HttpServerRequest&) {
    HttpServerResponse r = HttpServerResponse::Text(200, page, "text/html; charset=utf-8");
    r.headers.emplace_back("Cache-Control", "no-store");
    return r;
  };
  ui->server_.Route("GET", "/", html);
  ui->server_.Route("GET", "/index.html", html);
  ui->server_.Route("GET", "/api/run", [self](const HttpServerRequest&) { return self->Api(""); });
  ui->server_.Route("GET", "/report.html", [self](const HttpServerRequest&) {
    HttpServerResponse r =
        HttpServerResponse::Text(200, RenderReportHtml(self->View()), "text/html; charset=utf-8");
    r.headers.emplace_back("Content-Disposition", "attachment; filename=\"report.html\"");
    return r;
  });
  for (const char* member : {"progress", "curves", "instances", "cost", "checkpoints", "events"}) {
    std::string name = member;
    ui->server_.Route("GET", "/api/" + name,
                      [self, name](const HttpServerRequest&) { return self->Api(name); });
  }
  BATON_RETURN_IF_ERROR(
      ui->server_.Start(ui->options_.port, ui->options_.host).WithContext("baton ui"));
  if (IsLoopbackHost(ui->options_.host)) {
    // A web page elsewhere can point a name of its own at 127.0.0.1 (DNS rebinding) and read
    // the answers as same-origin: only requests that name this machine's loopback are served.
    const int port = ui->server_.port();
    ui->server_.SetInterceptor(
        [port](const HttpServerRequest& r) -> std::optional<HttpServerResponse> {
          if (IsLoopbackHostHeader(r.Header("host"), port)) return std::nullopt;
          return HttpServerResponse::Text(
              403, "baton ui answers requests for 127.0.0.1 or localhost only\n");
        });
  }
  return ui;
}

std::string UiServer::url() const { return server_.url() + "/"; }

Json UiServer::View() {
  RunViewOptions vo;
  vo.spec = options_.spec;
  std::lock_guard<std::mutex> lock(mu_);
  return BuildRunView(store_.get(), vo);
}

HttpServerResponse UiServer::Api(const std::string& member) {
  Json view = View();
  HttpServerResponse r =
      HttpServerResponse::Json(200, DumpJson(member.empty() ? view : view[member]));
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

bool IsLoopbackHost(const std::string& host) { return host.rfind("127.", 0) == 0; }

bool IsLoopbackHostHeader(std::string_view host, int port) {
  const std::string suffix = ":" + std::to_string(port);
  if (host.ends_with(suffix)) host.remove_suffix(suffix.size());
  return host == "localhost" || host == "[::1]" ||
         (host.starts_with("127.") &&
          host.find_first_not_of("0123456789.") == std::string_view::npos);
}

}  // namespace baton::view
