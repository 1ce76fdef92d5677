// THREADS C++ threads accepting and echoing through one framework until
// TOTAL connections were served; the thread that serves the last closes the
// server socket, which ends the other threads' Accepts with
// gecko::ClosedError. Then the server socket, the framework and the policy
// are destroyed and the program prints the native objects still live, which
// must be none:
//
//   served N errors E accepts-ended-by-close K policy-calls P live L
//
// Exit 0 when every connection was served without an error, every thread's
// Accept ended by the close, none hung, and no native object is left. Built
// in the binding's test project, so the sanitized build (GECKO_SANITIZE)
// runs it under AddressSanitizer and LeakSanitizer.
//
// Usage (in a node): gecko-lab exec --name L node1 -- threaded_echo THREADS TOTAL
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gecko/gecko.hpp"
#include "node_args.hpp"

namespace {

/// Keeps every connection on its node, counting the calls: each choice is a
/// call from the library's threads into C++.
class KeepHere : public gecko::GeckoPolicy {
 public:
  std::optional<in6_addr> SelectTarget(const gecko::ClientInfo&) override {
    calls++;
    return std::nullopt;
  }
  std::atomic<long> calls{0};
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: threaded_echo THREADS TOTAL\n");
    return 2;
  }
  const int threads = std::atoi(argv[1]);
  const long total = std::atol(argv[2]);
  std::atomic<long> served{0};
  std::atomic<int> ended_by_close{0};
  std::mutex mu;
  std::vector<std::string> errors;
  auto error = [&](const std::string& e) {
    std::lock_guard<std::mutex> l(mu);
    errors.push_back(e);
  };
  auto policy = std::make_shared<KeepHere>();
  long policy_calls = 0;
  try {
    gecko::GeckoFramework framework = gecko_examples::NodeArgs::Parse("threaded_echo", {}).Start(policy);
    std::unique_ptr<gecko::GeckoServerSocket> server = framework.GetServerSocket();
    std::vector<std::thread> workers;
    std::atomic<int> finished{0};
    std::condition_variable done;
    for (int i = 0; i < threads; i++) {
      workers.emplace_back([&] {
        std::vector<char> buf(4096);
        for (;;) {
          std::unique_ptr<gecko::GeckoSocket> socket;
          try {
            socket = server->Accept();
          } catch (const gecko::ClosedError&) {
            ended_by_close++;
            break;
          } catch (const std::exception& e) {
            error(std::string("accept: ") + e.what());
            break;
          }
          try {
            for (ssize_t n; (n = socket->Read(buf.data(), buf.size())) > 0;) {
              socket->WriteAll(buf.data(), static_cast<size_t>(n));
            }
          } catch (const std::exception& e) {
            error(std::string("echo: ") + e.what());
          }
          socket.reset();
          if (++served == total) server->Close();
        }
        std::lock_guard<std::mutex> l(mu);
        finished++;
        done.notify_all();
      });
    }
    std::printf("serving with %d threads\n", threads);
    std::fflush(stdout);
    {
      std::unique_lock<std::mutex> l(mu);
      if (!done.wait_for(l, std::chrono::seconds(600), [&] { return finished == threads; })) {
        std::printf("hung: %d of %d threads still serving after 600 s (served %ld)\n", threads - finished.load(),
                    threads, served.load());
        std::fflush(stdout);
        std::_Exit(2);
      }
    }
    for (std::thread& t : workers) t.join();
    server.reset();
  } catch (const std::exception& e) {
    error(std::string("setup: ") + e.what());
  }
  // The framework is destroyed here; then the policy.
  policy_calls = policy->calls;
  policy.reset();
  for (const std::string& e : errors) std::printf("error: %s\n", e.c_str());
  std::size_t live = gecko::LiveNativeObjects();
  std::printf("served %ld errors %zu accepts-ended-by-close %d policy-calls %ld live %zu\n", served.load(),
              errors.size(), ended_by_close.load(), policy_calls, live);
  return errors.empty() && served == total && ended_by_close == threads && live == 0 ? 0 : 1;
}
