// `baton ui`'s server: the run's page and its JSON API, read from the run's bucket alone on
// every request (run_view.h), so it shows whatever the bucket holds now, whoever writes it.
//
//   GET /                 the page (ui_page.h): HTML, CSS, script and Chart.js in one document
//   GET /api/run          the whole view document
//   GET /api/progress, /api/curves, /api/instances, /api/cost, /api/checkpoints, /api/events
//                         one member of it each, for scripts
//   GET /report.html      the page with the view inlined: a self-contained report to keep
//
// On a loopback address it answers only requests whose Host header names the loopback (403
// otherwise), so that no web page can read the run through a name of its own (DNS rebinding).
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "base/json.h"
#include "base/status.h"
#include "fleet/spec.h"
#include "net/http_server.h"
#include "store/store.h"
#include "view/run_view.h"

namespace baton::view {

struct UiServerOptions {
  std::string host = "127.0.0.1";        // an IPv4 address; 0.0.0.0 serves every interface
  int port = 0;                          // 0: any free port
  std::optional<fleet::FleetSpec> spec;  // bills the instances (run_view.h RunViewOptions)
};

class UiServer {
 public:
  // Serves the run in `store` (its folder), which the server then owns.
  static Result<std::unique_ptr<UiServer>> Start(std::unique_ptr<Store> store,
                                                 UiServerOptions options);
  ~UiServer();

  std::string url() const;  // "http://127.0.0.1:<port>/"
  int port() const { return server_.port(); }

 private:
  UiServer(std::unique_ptr<Store> store, UiServerOptions options);
  Json View();  // the view of the bucket now
  HttpServerResponse Api(const std::string& member);

  std::unique_ptr<Store> store_;
  UiServerOptions options_;
  std::mutex mu_;  // one view is built at a time
  HttpServer server_;
};

// Whether `host` is a loopback address (127.x.x.x): anything else lets other machines read the
// run's page.
bool IsLoopbackHost(const std::string& host);
// Whether a request's Host header ("127.0.0.1:8080", "localhost:8080") names this machine's
// loopback at `port` (or no port): a loopback server answers only those, since a name that
// resolves to 127.0.0.1 may be another site's (DNS rebinding).
bool IsLoopbackHostHeader(std::string_view host, int port);

}  // namespace baton::view
