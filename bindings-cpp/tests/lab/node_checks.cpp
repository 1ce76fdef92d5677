// The C++ API inside a node, misused on purpose, against the client script
// lab_test.cpp's kChecksClient (one connection per check, in this order; as
// bindings-java's NodeChecks.java):
//
//   moved-from-framework      a moved-from GeckoFramework throws ClosedError; Close on it does nothing
//   accept-timeout            Accept(200ms) with no client returns nullptr after ~200 ms
//   moved-from-server-socket  a moved-from GeckoServerSocket throws ClosedError; Close on it does nothing
//   accept-ended-by-close     Close from another thread ends a blocked Accept with ClosedError
//   closed-socket             Read/Write after Close throw ClosedError, Close again does nothing, Fd() is -1
//   moved-from-socket         a moved-from GeckoSocket throws ClosedError; Close on it does nothing
//   nonblocking-read          Read returns -1 with errno EAGAIN, then data once poll() on Fd() says so
//   read-ended-by-close       Close from another thread ends a blocked Read
//   write-ended-by-close      Close from another thread ends a blocked Write (it fails)
//   handoff-to-target         Handoff(target) returns true, then Read/Write throw MovedError (the
//                             target's echo_server serves the rest; the client checks SHA-256)
//   framework-destroyed       the framework destroyed while a socket lives: Accept throws ClosedError,
//                             the socket still writes a line the client receives, then closes
//
// Prints `ok NAME` per check and `live N` (gecko::LiveNativeObjects() once
// everything is destroyed) at the end; exits 1 at the first failure. Built
// in the binding's test project, so the sanitized build runs it under
// AddressSanitizer and LeakSanitizer.
//
// Usage (in a node): gecko-lab exec --name L node1 -- node_checks TARGET_NODE_ADDRESS
#include <cxxabi.h>
#include <poll.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <typeinfo>
#include <vector>

#include "gecko/gecko.hpp"
#include "node_args.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

class KeepHere : public gecko::GeckoPolicy {
 public:
  std::optional<in6_addr> SelectTarget(const gecko::ClientInfo&) override { return std::nullopt; }
};

std::string TypeName(const std::exception& e) {
  int status = 0;
  char* name = abi::__cxa_demangle(typeid(e).name(), nullptr, nullptr, &status);
  std::string out = status == 0 && name ? name : typeid(e).name();
  std::free(name);
  return out;
}

void Check(const char* name, const std::function<void()>& body) {
  try {
    body();
    std::printf("ok %s\n", name);
    std::fflush(stdout);
  } catch (const std::exception& e) {
    std::printf("FAIL %s: %s: %s\n", name, TypeName(e).c_str(), e.what());
    std::fflush(stdout);
    std::_Exit(1);
  }
}

void Expect(bool condition, const std::string& what) {
  if (!condition) throw std::runtime_error(what);
}

/// `call` throws E (or a subclass).
template <class E>
void ExpectThrow(const std::function<void()>& call, const std::string& what) {
  try {
    call();
  } catch (const E&) {
    return;
  } catch (const std::exception& e) {
    throw std::runtime_error(what + ": threw " + TypeName(e) + ": " + e.what());
  }
  throw std::runtime_error(what + ": did not throw");
}

/// What a call in another thread ended with.
struct Ended {
  std::exception_ptr error;
  std::string text;  // its type and message, or what it returned
};

/// Runs `body` in a new thread, then `then` 300 ms later (the call must still
/// be waiting); the call must end within 10 s.
Ended EndedFromAnotherThread(const std::function<std::string()>& body, const std::function<void()>& then) {
  std::atomic<bool> done{false};
  Ended ended;
  std::thread t([&] {
    try {
      ended.text = body();
    } catch (const std::exception& e) {
      ended.error = std::current_exception();
      ended.text = TypeName(e) + ": " + e.what();
    }
    done = true;
  });
  std::this_thread::sleep_for(milliseconds(300));
  if (done) {
    t.join();
    throw std::runtime_error("the call did not wait: " + ended.text);
  }
  then();
  auto deadline = Clock::now() + std::chrono::seconds(10);
  while (!done && Clock::now() < deadline) std::this_thread::sleep_for(milliseconds(10));
  if (!done) {
    std::printf("FAIL: the call did not end within 10 s\n");
    std::fflush(stdout);
    std::_Exit(1);
  }
  t.join();
  return ended;
}

/// Reads up to and including '\n' (blocking socket).
std::string ReadLine(gecko::GeckoSocket& s) {
  std::string line;
  char c = 0;
  while (line.empty() || line.back() != '\n') {
    ssize_t n = s.Read(&c, 1);
    Expect(n == 1, "the client ended the line early");
    line += c;
  }
  return line;
}

void WriteText(gecko::GeckoSocket& s, const std::string& text) { s.WriteAll(text.data(), text.size()); }

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: node_checks TARGET_NODE_ADDRESS\n");
    return 2;
  }
  try {
    const in6_addr target = gecko_examples::ParseAddress(argv[1], "TARGET_NODE_ADDRESS");
    auto policy = std::make_shared<KeepHere>();
    std::unique_ptr<gecko::GeckoFramework> framework;
    std::unique_ptr<gecko::GeckoServerSocket> quiet;
    std::unique_ptr<gecko::GeckoServerSocket> server;
    char buf[64];

    Check("moved-from-framework", [&] {
      gecko::GeckoFramework moved = gecko_examples::NodeArgs::Parse("node_checks", {}).Start(policy);
      framework = std::make_unique<gecko::GeckoFramework>(std::move(moved));
      ExpectThrow<gecko::ClosedError>([&] { moved.GetServerSocket(); }, "GetServerSocket");
      ExpectThrow<gecko::ClosedError>([&] { moved.GetServerSocket(9); }, "GetServerSocket(9)");
      ExpectThrow<gecko::ClosedError>([&] { moved.SetPolicy(policy); }, "SetPolicy");
      ExpectThrow<gecko::ClosedError>([&] { moved.LocalAddress(); }, "LocalAddress");
      ExpectThrow<gecko::ClosedError>([&] { moved.GlobalAddress(); }, "GlobalAddress");
      moved.Close();
      moved.Close();
      Expect(gecko_examples::AddressText(framework->LocalAddress()) == gecko_examples::AddressText(
                                                                            gecko_examples::NodeArgs::Parse("node_checks", {}).Local()),
             "the moved-to framework is another node");
      quiet = framework->GetServerSocket(9);  // a port no client uses
      server = framework->GetServerSocket();
    });

    Check("accept-timeout", [&] {
      auto t0 = Clock::now();
      Expect(quiet->Accept(milliseconds(200)) == nullptr, "accepted");
      auto waited = std::chrono::duration_cast<milliseconds>(Clock::now() - t0).count();
      Expect(waited >= 150 && waited < 5000, "waited " + std::to_string(waited) + " ms");
      Expect(quiet->Accept(milliseconds(0)) == nullptr, "accepted with no wait");
      ExpectThrow<std::invalid_argument>([&] { quiet->Accept(milliseconds(-1)); }, "a negative timeout");
    });

    Check("moved-from-server-socket", [&] {
      gecko::GeckoServerSocket other = std::move(*quiet);
      ExpectThrow<gecko::ClosedError>([&] { quiet->Accept(); }, "Accept");
      ExpectThrow<gecko::ClosedError>([&] { quiet->Accept(milliseconds(10)); }, "Accept(10ms)");
      ExpectThrow<gecko::ClosedError>([&] { quiet->Port(); }, "Port");
      quiet->Close();
      quiet->Close();
      Expect(other.Port() == 9, "the moved-to server socket's port");
      *quiet = std::move(other);
      Expect(quiet->Port() == 9, "moved back");
    });

    Check("accept-ended-by-close", [&] {
      Ended e = EndedFromAnotherThread(
          [&] {
            quiet->Accept();
            return std::string("accepted");
          },
          [&] { quiet->Close(); });
      Expect(e.error != nullptr, "Accept returned: " + e.text);
      ExpectThrow<gecko::ClosedError>([&] { std::rethrow_exception(e.error); }, "the ended Accept");
      ExpectThrow<gecko::ClosedError>([&] { quiet->Accept(); }, "Accept after Close");
      ExpectThrow<gecko::ClosedError>([&] { quiet->Accept(milliseconds(10)); }, "Accept(10ms) after Close");
      quiet->Close();
    });

    Check("closed-socket", [&] {
      std::unique_ptr<gecko::GeckoSocket> s = server->Accept();
      WriteText(*s, "bye\n");
      s->Close();
      s->Close();
      ExpectThrow<gecko::ClosedError>([&] { s->Read(buf, sizeof buf); }, "Read after Close");
      ExpectThrow<gecko::ClosedError>([&] { s->Write("x", 1); }, "Write after Close");
      ExpectThrow<gecko::ClosedError>([&] { s->Handoff(); }, "Handoff after Close");
      Expect(s->Fd() == -1, "Fd() after Close is " + std::to_string(s->Fd()));
    });

    Check("moved-from-socket", [&] {
      std::unique_ptr<gecko::GeckoSocket> s = server->Accept();
      gecko::GeckoSocket m = std::move(*s);
      ExpectThrow<gecko::ClosedError>([&] { s->Read(buf, sizeof buf); }, "Read");
      ExpectThrow<gecko::ClosedError>([&] { s->Write("x", 1); }, "Write");
      ExpectThrow<gecko::ClosedError>([&] { s->Handoff(); }, "Handoff");
      ExpectThrow<gecko::ClosedError>([&] { s->Position(); }, "Position");
      ExpectThrow<gecko::ClosedError>([&] { s->Fd(); }, "Fd");
      ExpectThrow<gecko::ClosedError>([&] { s->SetNonBlocking(); }, "SetNonBlocking");
      s->Close();
      s->Close();
      WriteText(m, ReadLine(m));  // the moved-to socket serves the connection
      m.Close();
    });

    Check("nonblocking-read", [&] {
      std::unique_ptr<gecko::GeckoSocket> s = server->Accept();
      s->SetNonBlocking();
      Expect(!s->IsBlocking(), "IsBlocking after SetNonBlocking");
      errno = 0;
      ssize_t n = s->Read(buf, sizeof buf);
      Expect(n == -1 && errno == EAGAIN, "Read returned " + std::to_string(n) + " errno " + std::to_string(errno));
      s->SetBlocking();
      WriteText(*s, "go\n");
      s->SetNonBlocking();
      std::string got;
      auto deadline = Clock::now() + std::chrono::seconds(10);
      while (got.find('\n') == std::string::npos) {
        Expect(Clock::now() < deadline, "no data in 10 s");
        n = s->Read(buf, sizeof buf);
        if (n < 0) {
          Expect(errno == EAGAIN, "errno " + std::to_string(errno));
          pollfd p{s->Fd(), POLLIN, 0};
          ::poll(&p, 1, 1000);
          continue;
        }
        Expect(n > 0, "the client closed");
        got.append(buf, static_cast<size_t>(n));
      }
      s->SetBlocking();
      Expect(s->IsBlocking(), "IsBlocking after SetBlocking");
      WriteText(*s, got);
    });

    Check("read-ended-by-close", [&] {
      std::unique_ptr<gecko::GeckoSocket> s = server->Accept();
      Ended e = EndedFromAnotherThread(
          [&] {
            char one[16];
            return "returned " + std::to_string(s->Read(one, sizeof one));
          },
          [&] { s->Close(); });
      std::printf("read ended by close: %s\n", e.text.c_str());
      Expect(e.text == "returned 0" || (e.error && e.text.rfind("gecko::ClosedError", 0) == 0),
             "the ended Read: " + e.text);
      ExpectThrow<gecko::ClosedError>([&] { s->Read(buf, sizeof buf); }, "Read after Close");
    });

    Check("write-ended-by-close", [&] {
      std::unique_ptr<gecko::GeckoSocket> s = server->Accept();
      std::vector<char> chunk(64 * 1024, 'w');
      Ended e = EndedFromAnotherThread(
          [&] {
            for (;;) s->WriteAll(chunk.data(), chunk.size());
            return std::string();
          },
          [&] { s->Close(); });
      std::printf("write ended by close: %s\n", e.text.c_str());
      Expect(e.error != nullptr, "the Write did not fail");
    });

    Check("handoff-to-target", [&] {
      std::unique_ptr<gecko::GeckoSocket> s = server->Accept();
      Expect(s->Handoff(target), "Handoff(target) returned false");
      Expect(s->IsMoved(), "IsMoved() false after the handoff");
      ExpectThrow<gecko::MovedError>([&] { s->Read(buf, sizeof buf); }, "Read after the handoff");
      ExpectThrow<gecko::MovedError>([&] { s->Write("x", 1); }, "Write after the handoff");
      s->Close();
    });

    Check("framework-destroyed", [&] {
      std::unique_ptr<gecko::GeckoSocket> s = server->Accept();
      framework.reset();
      // gecko.hpp: destroying it stops the node and closes its server sockets.
      ExpectThrow<gecko::ClosedError>([&] { server->Accept(milliseconds(100)); },
                                      "Accept after the framework was destroyed");
      server->Close();
      ExpectThrow<gecko::ClosedError>([&] { server->Accept(milliseconds(100)); }, "Accept after Close");
      server.reset();
      quiet.reset();
      // A connection already accepted stays usable.
      WriteText(*s, "still here\n");
      s->Close();
      s->Close();
      ExpectThrow<gecko::ClosedError>([&] { s->Read(buf, sizeof buf); }, "Read after Close");
    });
  } catch (const std::exception& e) {
    std::printf("FAIL: %s: %s\n", TypeName(e).c_str(), e.what());
    std::fflush(stdout);
    return 1;
  }
  std::size_t live = gecko::LiveNativeObjects();
  std::printf("live %zu\n", live);
  return live == 0 ? 0 : 1;
}
