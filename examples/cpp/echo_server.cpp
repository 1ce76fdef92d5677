// The seed's echo server on Gecko, in C++ (examples/rust/echo_server.rs in
// Rust, examples/java/EchoServer.java in Java, examples/python/echo.py in
// Python): each new connection is placed by the policy at establishment,
// and every `H` byte read hands the connection off again, after its echo.
// The client sees one server at G and a byte-exact echo throughout. One
// thread per connection.
//
// Build (a standalone CMake project over the installed package):
//
//   cmake -S bindings-cpp -B build/cpp -DCMAKE_BUILD_TYPE=Release
//   cmake --build build/cpp -j2 && cmake --install build/cpp --prefix $PWD/build/cpp-prefix
//   cmake -S examples/cpp -B build/cpp-examples -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH=$PWD/build/cpp-prefix
//   cmake --build build/cpp-examples -j2
//
// Run in a lab host (gecko-lab exec sets GECKO_CONFIG, GECKO_LOCAL_ADDRESS
// and GECKO_INTERFACE):
//
//   gecko-lab exec --name L node1 -- build/cpp-examples/echo_server --policy round-robin
//   gecko-lab exec --name L client1 -- socat - TCP6:[G]:7
//
// Flags: those of node_args.hpp (--config/-g, --local, --iface,
// --policy NAME|node=ADDR) and --port (7).
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "gecko/gecko.hpp"
#include "node_args.hpp"

namespace {

/// Echoes until the client closes or the connection moves away.
void Serve(std::unique_ptr<gecko::GeckoSocket> socket) {
  std::vector<char> buf(64 * 1024);
  try {
    for (;;) {
      ssize_t n = socket->Read(buf.data(), buf.size());
      if (n <= 0) return;  // the client closed
      socket->WriteAll(buf.data(), static_cast<size_t>(n));
      if (std::memchr(buf.data(), 'H', static_cast<size_t>(n)) != nullptr) {
        try {
          if (socket->Handoff()) return;  // served by another node now
        } catch (const gecko::Error& e) {
          std::fprintf(stderr, "handoff failed; serving on: %s\n", e.what());
        }
      }
    }
  } catch (const std::exception&) {
    // The connection ended (closed, reset, or moved).
  }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    auto args = gecko_examples::NodeArgs::Parse(argc, argv, {{"--port", "the TCP port served at G (7)"}});
    uint16_t port = args.Port("--port", 7);
    gecko::GeckoFramework framework = args.Start();
    std::unique_ptr<gecko::GeckoServerSocket> server = framework.GetServerSocket(port);
    std::fprintf(stderr, "echo server ready on port %u\n", port);
    for (;;) {
      std::thread(Serve, server->Accept()).detach();
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "echo_server: %s\n", e.what());
    return 1;
  }
}
