// A file-download server on Gecko, in C++ (examples/rust/stream_server.rs in
// Rust, examples/java/StreamServer.java in Java, examples/python/stream.py in
// Python): `GET /` answers with one file over HTTP/1.1 (Content-Length,
// application/octet-stream, Connection: close); other paths get 404, other
// methods 405. The response is one byte sequence R (head, then the file,
// read from disk in 128 KiB chunks). A connection that arrives mid-stream
// (handed in, or recovered after its node crashed) resumes R at
// Position().sent: what the previous node had written, or for a recovered
// connection what the client acknowledged. A handed-in or recovered
// connection whose request was already read (received > 0) gets R from its
// start; any other has its request read first (30 s at most). After the
// whole response the server waits (30 s at most) for the client to close, so
// the node keeps the connection until everything arrived. The C++ socket
// has no read timeout: both waits poll() the socket's Fd() between
// non-blocking reads.
//
// Build: see echo_server.cpp (the same CMake project, examples/cpp).
//
//   gecko-lab exec --name L node1 -- build/cpp-examples/stream_server --file /srv/big.bin --policy round-robin
//   gecko-lab exec --name L client1 -- curl -o out http://[G]:8080/
//
// Flags: those of node_args.hpp (--config/-g, --local, --iface,
// --policy NAME|node=ADDR), --port (8080), --file PATH (needed; a missing or
// unreadable file is refused before the node joins the group) and
// --handoff-every BYTES (hand the connection off by the policy each time the
// response reaches a multiple of BYTES; 0: never).
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "gecko/gecko.hpp"
#include "node_args.hpp"

namespace {

constexpr size_t kMaxHead = 8 * 1024;
constexpr std::chrono::milliseconds kRequestTimeout{30'000};
constexpr std::chrono::milliseconds kLingerTimeout{30'000};
constexpr size_t kChunk = 128 * 1024;

using Clock = std::chrono::steady_clock;

/// R: its head in memory, the file read from disk as sent.
struct Response {
  std::string path;
  int fd = -1;
  uint64_t file_len = 0;
  std::string head;

  explicit Response(const std::string& file) : path(file) {
    fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw std::system_error(errno, std::generic_category(), "cannot serve " + file);
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      throw std::invalid_argument("cannot serve " + file + ": not a regular file");
    }
    file_len = static_cast<uint64_t>(st.st_size);
    head = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(file_len) +
           "\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n";
  }

  uint64_t Length() const { return head.size() + file_len; }

  /// Up to `n` bytes of R from `at` into `buf` (pread: threads share the file).
  size_t ReadAt(uint64_t at, char* buf, size_t n) const {
    if (at < head.size()) {
      size_t k = std::min<uint64_t>(n, head.size() - at);
      std::memcpy(buf, head.data() + at, k);
      return k;
    }
    size_t want = std::min<uint64_t>(n, Length() - at);
    for (;;) {
      ssize_t k = ::pread(fd, buf, want, static_cast<off_t>(at - head.size()));
      if (k < 0 && errno == EINTR) continue;
      if (k < 0) throw std::system_error(errno, std::generic_category(), "reading " + path);
      if (k == 0) throw std::runtime_error("the file shrank while serving it");
      return static_cast<size_t>(k);
    }
  }
};

/// Reads from a non-blocking socket, waiting (poll on its descriptor) until
/// `deadline`: a count, 0 at the end, or nullopt when the time is up.
std::optional<size_t> ReadBefore(gecko::GeckoSocket& socket, char* buf, size_t n, Clock::time_point deadline) {
  for (;;) {
    ssize_t got = socket.Read(buf, n);
    if (got >= 0) return static_cast<size_t>(got);
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return std::nullopt;
    pollfd p{socket.Fd(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::min<long long>(left, 1000))) < 0 && errno != EINTR) {
      throw std::system_error(errno, std::generic_category(), "poll");
    }
  }
}

/// Reads the request head: nullopt for `GET /`, else the status to answer.
/// Throws when the client closes early or sends nothing in time.
std::optional<std::string> ReadRequest(gecko::GeckoSocket& socket) {
  socket.SetNonBlocking();
  Clock::time_point deadline = Clock::now() + kRequestTimeout;
  std::string head;
  char buf[2048];
  while (head.find("\r\n\r\n") == std::string::npos) {
    if (head.size() >= kMaxHead) return "431 Request Header Fields Too Large";
    std::optional<size_t> n = ReadBefore(socket, buf, std::min(sizeof buf, kMaxHead - head.size()), deadline);
    if (!n) throw std::runtime_error("no request in time");
    if (*n == 0) throw std::runtime_error("closed before the request head ended");
    head.append(buf, *n);
  }
  socket.SetBlocking();
  std::string line = head.substr(0, head.find('\n'));
  if (!line.empty() && line.back() == '\r') line.pop_back();
  size_t sp = line.find(' ');
  std::string method = line.substr(0, sp);
  std::string path;
  if (sp != std::string::npos) path = line.substr(sp + 1, line.find(' ', sp + 1) - sp - 1);
  if (method == "GET" && path == "/") return std::nullopt;
  return method == "GET" ? "404 Not Found" : "405 Method Not Allowed";
}

/// Waits (bounded) for the client to close after the whole response.
void Linger(gecko::GeckoSocket& socket) {
  try {
    socket.SetNonBlocking();
    Clock::time_point deadline = Clock::now() + kLingerTimeout;
    char buf[4096];
    for (;;) {
      std::optional<size_t> n = ReadBefore(socket, buf, sizeof buf, deadline);
      if (!n || *n == 0) return;
    }
  } catch (const std::exception&) {
    // Closed or reset.
  }
}

/// Writes R from `start`, handing off at each multiple of `every`; false once moved.
bool Send(gecko::GeckoSocket& socket, const Response& r, uint64_t start, uint64_t every) {
  uint64_t at = start;
  uint64_t next_handoff = every > 0 ? (start / every + 1) * every : 0;
  std::vector<char> buf(kChunk);
  while (at < r.Length()) {
    uint64_t limit = every > 0 ? std::min(next_handoff, r.Length()) : r.Length();
    size_t n = r.ReadAt(at, buf.data(), std::min<uint64_t>(limit - at, kChunk));
    socket.WriteAll(buf.data(), n);
    at += n;
    if (every > 0 && at == next_handoff && at < r.Length()) {
      next_handoff += every;
      try {
        if (socket.Handoff()) return false;  // served by another node now
      } catch (const gecko::Error& e) {
        std::fprintf(stderr, "handoff failed at %llu; serving on: %s\n", static_cast<unsigned long long>(at),
                     e.what());
      }
    }
  }
  return true;
}

void Serve(std::unique_ptr<gecko::GeckoSocket> socket, const Response& r, uint64_t every) {
  try {
    gecko::StreamOffsets p = socket->Position();
    bool handed_in = socket->HandedIn();
    bool recovered = socket->Recovered().has_value();
    uint64_t start = 0;
    if (p.sent > 0) {
      std::fprintf(stderr, "resuming the response at %llu (handed in %s, recovered %s)\n",
                   static_cast<unsigned long long>(p.sent), handed_in ? "true" : "false",
                   recovered ? "true" : "false");
      start = p.sent;
    } else if ((handed_in || recovered) && p.received > 0) {
      start = 0;  // the request was read on another node
    } else if (std::optional<std::string> status = ReadRequest(*socket)) {
      std::string body = *status + "\n";
      std::string allow = status->rfind("405", 0) == 0 ? "Allow: GET\r\n" : "";
      std::string answer = "HTTP/1.1 " + *status + "\r\nContent-Length: " + std::to_string(body.size()) +
                           "\r\nContent-Type: text/plain\r\n" + allow + "Connection: close\r\n\r\n" + body;
      socket->SetBlocking();
      socket->WriteAll(answer.data(), answer.size());
      Linger(*socket);
      return;
    }
    if (Send(*socket, r, start, every)) Linger(*socket);
  } catch (const std::exception&) {
    // The connection ended, or the client sent no request in time.
  }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    auto args = gecko_examples::NodeArgs::Parse(
        argc, argv,
        {{"--port", "the TCP port served at G (8080)"},
         {"--file", "the file GET / answers with (needed)"},
         {"--handoff-every", "hand the connection off each time the response reaches a multiple of BYTES"}});
    uint16_t port = args.Port("--port", 8080);
    uint64_t every = static_cast<uint64_t>(args.Number("--handoff-every", 0, 0, INT64_MAX));
    std::optional<std::string> file = args.Get("--file");
    if (!file) throw std::invalid_argument("--file is needed");
    // Checked before the node joins: a node that cannot serve must not take connections.
    static const Response response(*file);
    gecko::GeckoFramework framework = args.Start();
    std::unique_ptr<gecko::GeckoServerSocket> server = framework.GetServerSocket(port);
    std::fprintf(stderr, "stream server ready on port %u: %s, %llu bytes\n", port, file->c_str(),
                 static_cast<unsigned long long>(response.file_len));
    for (;;) {
      std::thread(Serve, server->Accept(), std::cref(response), every).detach();
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "stream_server: %s\n", e.what());
    return 1;
  }
}
