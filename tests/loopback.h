// Loopback sockets for tests that need a port: one that listens (a server, or a full backlog that
// never answers) or one where nothing listens (connections refused at once).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace baton::testing {

// A listening TCP socket on 127.0.0.1 at a free port (stored in *port).
inline int ListenOnLoopback(int* port, int backlog = 64) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  *port = ntohs(addr.sin_port);
  listen(fd, backlog);
  return fd;
}

// A loopback port where nothing listens any more.
inline int ClosedLoopbackPort() {
  int port = 0;
  close(ListenOnLoopback(&port));
  return port;
}

}  // namespace baton::testing
