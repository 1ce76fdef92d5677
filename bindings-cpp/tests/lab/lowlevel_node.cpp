// The low-level API (gecko/lowlevel.hpp) in a lab node, for lab_test.cpp.
//
//   lowlevel_node contact            G here and registered at the home agent
//                                    (mip6_addr_active); prints "active", then
//                                    serves the signalling until killed.
//   lowlevel_node takeover CLIENT    G held passively; binds CLIENT's traffic
//                                    here (mip6_handoff_start), echoes one
//                                    connection on port 7007 (which only this
//                                    node serves), then clears the binding.
//
// GECKO_LOCAL_ADDRESS and GECKO_CONFIG (set by gecko-lab exec) name the node.
// Exit 0 when every step did what it says; a line per step on stdout.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <thread>

#include "gecko/lowlevel.hpp"

namespace {

in6_addr Addr(const char* text) {
  in6_addr a{};
  if (text == nullptr || inet_pton(AF_INET6, text, &a) != 1) {
    throw std::invalid_argument(std::string("not an IPv6 address: ") + (text ? text : "(none)"));
  }
  return a;
}

/// Echoes one connection on [::]:port (G is on this node), then returns.
void EchoOne(uint16_t port) {
  int l = socket(AF_INET6, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_port = htons(port);
  if (l < 0 || bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(l, 1) != 0) {
    throw std::runtime_error("cannot listen on port " + std::to_string(port));
  }
  std::printf("listening\n");
  std::fflush(stdout);
  int c = accept(l, nullptr, nullptr);
  char buf[65536];
  long total = 0;
  for (ssize_t n; (n = read(c, buf, sizeof buf)) > 0; total += n) {
    for (ssize_t off = 0; off < n;) {
      ssize_t w = write(c, buf + off, static_cast<size_t>(n - off));
      if (w <= 0) throw std::runtime_error("echo write failed");
      off += w;
    }
  }
  close(c);
  close(l);
  std::printf("echoed %ld bytes\n", total);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::string mode = argc > 1 ? argv[1] : "";
    const char* config = std::getenv("GECKO_CONFIG");
    gecko::lowlevel::Node node(Addr(std::getenv("GECKO_LOCAL_ADDRESS")), config ? config : "");
    if (mode == "contact") {
      gecko::lowlevel::mip6_addr_active(node);
      std::printf("active\n");
      std::fflush(stdout);
      for (;;) std::this_thread::sleep_for(std::chrono::seconds(60));
    }
    if (mode != "takeover" || argc != 3) {
      std::fprintf(stderr, "usage: lowlevel_node contact | takeover CLIENT\n");
      return 2;
    }
    in6_addr client = Addr(argv[2]);
    gecko::lowlevel::mip6_addr_passive(node);
    if (gecko::lowlevel::mip6_handoff_mark(node, client)) throw std::runtime_error("a mark before any update");
    gecko::lowlevel::mip6_handoff_start(node, client, std::nullopt);
    auto mark = gecko::lowlevel::mip6_handoff_mark(node, client);
    bool holds = gecko::lowlevel::mip6_holds_binding(node, client);
    std::printf("bound mark=%d holds=%d\n", mark ? *mark : -1, holds ? 1 : 0);
    std::fflush(stdout);
    if (!mark || !holds) return 1;
    EchoOne(7007);
    gecko::lowlevel::mip6_handoff_clear(node, client);
    std::printf("cleared holds=%d\n", gecko::lowlevel::mip6_holds_binding(node, client) ? 1 : 0);
    return gecko::lowlevel::mip6_holds_binding(node, client) ? 1 : 0;
  } catch (const std::exception& e) {
    std::printf("failed: %s\n", e.what());
    return 1;
  }
}
