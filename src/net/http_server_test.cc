#include "net/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "net/http_client.h"

namespace baton {
namespace {

HttpServerResponse Echo(const HttpServerRequest& r) {
  std::string out = r.method + " " + r.path + " a=" + r.Query("a") + " x=" + r.Header("X-Test") +
                    " body=" + r.body;
  return HttpServerResponse::Text(200, out);
}

Result<HttpResponse> Send(HttpClient& client, const std::string& method, const std::string& url,
                          std::string_view body = "",
                          std::vector<std::pair<std::string, std::string>> headers = {}) {
  HttpRequest request;
  request.method = method;
  request.url = url;
  request.body = body;
  request.headers = std::move(headers);
  request.connect_timeout_ms = 1000;
  request.total_timeout_ms = 2000;
  return client.Send(request);
}

// Writes `raw` on a fresh connection and returns everything the server sends until it closes.
std::string RawExchange(int port, const std::string& raw) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return "connect failed";
  }
  timeval tv{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  send(fd, raw.data(), raw.size(), MSG_NOSIGNAL);
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.Route("GET", "/echo", Echo);
    server_.Route("POST", "/echo", Echo);
    ASSERT_TRUE(server_.Start().ok());
  }
  HttpServer server_;
  HttpClient client_;
};

TEST_F(HttpServerTest, RoutesByMethodAndPathWithQueryHeadersAndBody) {
  auto r = Send(client_, "GET", server_.url() + "/echo?a=x%20y&b", "", {{"X-Test", "hi"}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "GET /echo a=x y x=hi body=");
  EXPECT_EQ(r->Header("content-type"), "text/plain");

  r = Send(client_, "POST", server_.url() + "/echo", "payload");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->body, "POST /echo a= x= body=payload");

  r = Send(client_, "PUT", server_.url() + "/echo", "x");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->Header("allow"), "GET, POST");

  r = Send(client_, "GET", server_.url() + "/nowhere");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 404);

  EXPECT_EQ(server_.CountOf("GET", "/echo"), 1u);
  EXPECT_EQ(server_.CountOf("PUT", "/echo"), 1u);
  EXPECT_EQ(server_.CountOfStatus(200), 2u);
  EXPECT_EQ(server_.CountOfStatus(404), 1u);
  EXPECT_EQ(server_.request_count(), 4u);
}

TEST_F(HttpServerTest, ServesManyClientsAtOnce) {
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      HttpClient client;  // one keep-alive connection per thread
      for (int i = 0; i < 20; ++i) {
        auto r = Send(client, "GET", server_.url() + "/echo?a=" + std::to_string(i));
        if (r.ok() && r->status == 200 &&
            r->body.find("a=" + std::to_string(i)) != std::string::npos)
          ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok, 160);
  EXPECT_EQ(server_.CountOf("GET", "/echo"), 160u);
}

TEST_F(HttpServerTest, InterceptorCanFailOrDropRequests) {
  std::atomic<int> mode{1};  // 1: answer 503 once; 2: drop every request; 0: route as usual
  server_.SetInterceptor([&](const HttpServerRequest&) -> std::optional<HttpServerResponse> {
    int m = mode.load();
    if (m == 1) {
      mode = 0;
      return HttpServerResponse::Text(503, "busy");
    }
    if (m == 2) {
      HttpServerResponse r;
      r.drop_connection = true;
      return r;
    }
    return std::nullopt;
  });
  auto r = Send(client_, "GET", server_.url() + "/echo");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 503);
  // (curl retries once on a fresh connection when a reused one dies; both are dropped.)
  mode = 2;
  r = Send(client_, "GET", server_.url() + "/echo");
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  mode = 0;
  r = Send(client_, "GET", server_.url() + "/echo");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_GE(server_.Counters()["dropped"], 1u);
}

TEST_F(HttpServerTest, HandlerThatThrowsGives500) {
  server_.Route("GET", "/boom", [](const HttpServerRequest&) -> HttpServerResponse {
    throw std::runtime_error("kaput");
  });
  auto r = Send(client_, "GET", server_.url() + "/boom");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 500);
  EXPECT_NE(r->body.find("kaput"), std::string::npos);
}

TEST_F(HttpServerTest, StopsAndRestartsOnTheSamePort) {
  int port = server_.port();
  ASSERT_TRUE(Send(client_, "GET", server_.url() + "/echo").ok());
  server_.Stop();
  EXPECT_FALSE(server_.running());
  auto down = Send(client_, "GET", server_.url() + "/echo");
  EXPECT_FALSE(down.ok());
  ASSERT_TRUE(server_.Start(port).ok());
  EXPECT_EQ(server_.port(), port);
  auto up = Send(client_, "GET", server_.url() + "/echo");
  ASSERT_TRUE(up.ok()) << up.status().ToString();
  EXPECT_EQ(up->status, 200);
}

TEST_F(HttpServerTest, ParsesPipelinedAndChunkedRequests) {
  std::string out = RawExchange(server_.port(),
                                "POST /echo?a=1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked"
                                "\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n"
                                "GET /echo?a=2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(out.find("POST /echo a=1 x= body=abcde"), std::string::npos) << out;
  EXPECT_NE(out.find("GET /echo a=2 x= body="), std::string::npos) << out;
  EXPECT_NE(out.find("Connection: close"), std::string::npos) << out;
}

TEST_F(HttpServerTest, AnswersMalformedRequestsWith4xx) {
  EXPECT_TRUE(RawExchange(server_.port(), "NONSENSE\r\n\r\n").starts_with("HTTP/1.1 400"));
  EXPECT_TRUE(
      RawExchange(server_.port(), "GET /echo HTTP/2.0\r\n\r\n").starts_with("HTTP/1.1 505"));
  EXPECT_TRUE(RawExchange(server_.port(), "POST /echo HTTP/1.1\r\nContent-Length: x\r\n\r\n")
                  .starts_with("HTTP/1.1 400"));
  std::string huge = "GET /echo HTTP/1.1\r\nX: " + std::string(HttpServer::kMaxHeaderBytes, 'a');
  EXPECT_TRUE(RawExchange(server_.port(), huge).starts_with("HTTP/1.1 431"));
  // The server is still fine.
  auto r = Send(client_, "GET", server_.url() + "/echo");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
}

TEST_F(HttpServerTest, KeepsTheRawTargetAndHead) {
  std::mutex mu;
  HttpServerRequest seen;
  server_.Route("GET", "/a b", [&](const HttpServerRequest& r) {
    std::lock_guard<std::mutex> lock(mu);
    seen = r;
    return HttpServerResponse::Text(200, "ok");
  });
  std::string out = RawExchange(server_.port(),
                                "GET http://x/a%20b?k=%41 HTTP/1.1\r\nHost: x\r\nX-Mixed-Case:  v "
                                "\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(out.starts_with("HTTP/1.1 200")) << out;
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(seen.path, "/a b");
  EXPECT_EQ(seen.target, "/a%20b?k=%41");
  EXPECT_EQ(seen.raw_query, "k=%41");
  EXPECT_EQ(seen.Query("k"), "A");
  EXPECT_EQ(seen.head,
            "GET http://x/a%20b?k=%41 HTTP/1.1\r\nHost: x\r\nX-Mixed-Case:  v \r\n"
            "Connection: close");
  EXPECT_EQ(seen.Header("x-mixed-case"), "v");
}

TEST_F(HttpServerTest, CutsABodyShortAndCloses) {
  server_.Route("GET", "/cut", [](const HttpServerRequest&) {
    HttpServerResponse r = HttpServerResponse::Text(200, std::string(1000, 'x'));
    r.cut_body_at = 100;
    return r;
  });
  std::string out = RawExchange(server_.port(), "GET /cut HTTP/1.1\r\nHost: x\r\n\r\n");
  size_t blank = out.find("\r\n\r\n");
  ASSERT_NE(blank, std::string::npos) << out;
  EXPECT_NE(out.find("Content-Length: 1000\r\n"), std::string::npos) << out;
  EXPECT_EQ(out.substr(blank + 4), std::string(100, 'x'));
  // The client sees a transport failure it may retry, not a short body.
  auto r = Send(client_, "GET", server_.url() + "/cut");
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();
  // A cut at or past the end sends the whole body.
  server_.Route("GET", "/whole", [](const HttpServerRequest&) {
    HttpServerResponse r = HttpServerResponse::Text(200, "abc");
    r.cut_body_at = 3;
    return r;
  });
  r = Send(client_, "GET", server_.url() + "/whole");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->body, "abc");
}

TEST_F(HttpServerTest, BodyLimitIsSettable) {
  server_.SetMaxBodyBytes(16);
  auto r = Send(client_, "POST", server_.url() + "/echo", std::string(17, 'b'));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 413);
  r = Send(client_, "POST", server_.url() + "/echo", std::string(16, 'b'));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "POST /echo a= x= body=" + std::string(16, 'b'));
}

TEST(HttpServerQueryTest, DecodesQueryStrings) {
  auto q = ParseQueryString("a=1&b=x%20y&c&d=%zz&a=2");
  EXPECT_EQ(q["a"], "2");
  EXPECT_EQ(q["b"], "x y");
  EXPECT_EQ(q.count("c"), 1u);
  EXPECT_EQ(q["c"], "");
  EXPECT_EQ(q["d"], "%zz");
  EXPECT_EQ(PercentDecode("%2Fa%2f%"), "/a/%");
}

}  // namespace
}  // namespace baton
