// Lab tests (root; ctest label `lab`): the C++ examples (echo_server and
// stream_server from examples/cpp, found in $GECKO_CPP_EXAMPLES) and two
// programs of this directory (threaded_echo, node_checks) on three nodes of
// a lab of their own, with the real daemons; clients are python3 scripts in
// the lab's client hosts, every byte checked by SHA-256 both ways, and the
// nodes' own metrics. The lab (gk-cpp-lab; gk-cpp-asan in the sanitized
// build; $GECKO_CPP_LAB_NAME overrides) is taken down however the tests
// end, and each test's programs are killed however it ends. Without root,
// gecko-lab or the examples the tests skip, saying why; with
// GECKO_CPP_LAB_REQUIRED=1 they fail instead.
//
//   GECKO_CPP_EXAMPLES=$PWD/build/cpp-examples ctest --test-dir build/cpp -L lab --output-on-failure
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "lab.hpp"

namespace {

using gecko_lab::Lab;
using gecko_lab::Result;

/// The lab clients every language's tests share (tests/clients/).
const std::string kMidStreamClient = std::string(GECKO_REPO_DIR) + "/tests/clients/mid_stream_echo.py";
const std::string kManyClient = std::string(GECKO_REPO_DIR) + "/tests/clients/many_echoes.py";

/// One connection: N random bytes echoed, compared by SHA-256.
constexpr const char* kEchoOnce = R"py(
import hashlib, os, socket, sys, threading
g, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = os.urandom(n)
s = socket.create_connection((g, port), timeout=30)
t = threading.Thread(target=lambda: (s.sendall(data), s.shutdown(socket.SHUT_WR)))
t.start()
back = bytearray()
while True:
    b = s.recv(65536)
    if not b:
        break
    back += b
t.join()
s.close()
print('sent', hashlib.sha256(data).hexdigest())
print('received', hashlib.sha256(back).hexdigest(), len(back))
sys.exit(0 if hashlib.sha256(back).digest() == hashlib.sha256(data).digest() else 1)
)py";

/// node_checks.cpp's other half: one connection per check that needs a
/// client, in its order; prints `ok NAME` per check.
constexpr const char* kChecksClient = R"py(
import hashlib, os, socket, sys, threading, time
g = sys.argv[1]
def conn():
    return socket.create_connection((g, 7), timeout=30)
def line(s):
    b = bytearray()
    while not b.endswith(b'\n'):
        c = s.recv(1)
        assert c, 'ended before the line did: %r' % bytes(b)
        b += c
    return bytes(b)
def end(s):
    assert s.recv(1) == b'', 'no end of stream'
    s.close()
def exact(s, n):
    b = bytearray()
    while len(b) < n:
        c = s.recv(n - len(b))
        assert c, 'ended early'
        b += c
    return bytes(b)
s = conn()
assert line(s) == b'bye\n'
end(s)
print('ok closed-socket')
s = conn()
s.sendall(b'moved from\n')
assert line(s) == b'moved from\n'
end(s)
print('ok moved-from-socket')
s = conn()
assert line(s) == b'go\n'
s.sendall(b'data\n')
assert line(s) == b'data\n'
end(s)
print('ok nonblocking-read')
s = conn()
end(s)
print('ok read-ended-by-close')
s = conn()
time.sleep(1.0)
try:
    while s.recv(1 << 16):
        pass
except ConnectionResetError:
    pass
s.close()
print('ok write-ended-by-close')
data = os.urandom(1 << 20).replace(b'H', b'G')
s = conn()
t = threading.Thread(target=s.sendall, args=(data,))
t.start()
back = exact(s, len(data))
t.join()
s.close()
assert hashlib.sha256(back).hexdigest() == hashlib.sha256(data).hexdigest(), 'echo differs'
print('ok handoff-to-target', hashlib.sha256(data).hexdigest())
s = conn()
assert line(s) == b'still here\n'
end(s)
print('ok framework-destroyed')
)py";

std::string ExamplePath(const char* program) {
  return (std::filesystem::path(Lab::ExamplesDir()) / program).string();
}

double Sum(const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0); }

std::string Sha256(const std::string& path) {
  Result r = Lab::Run({"sha256sum", path}, 60);
  return r.exit == 0 ? r.out.substr(0, 64) : "sha256sum failed: " + r.out;
}

/// Handoffs out and in, summed over the nodes, once they agree (a donor
/// counts a handoff when the acceptor's outcome reaches it) or 10 s passed.
std::pair<double, double> SettledHandoffs(const Lab& lab) {
  double moved = 0;
  double arrived = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  do {
    moved = Sum(lab.ByNode("gecko_handoffs_total{direction=\"out\"}"));
    arrived = Sum(lab.ByNode("gecko_handoffs_total{direction=\"in\"}"));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  } while (moved != arrived && std::chrono::steady_clock::now() < deadline);
  return {moved, arrived};
}

bool Contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

/// `size` random bytes (a multiple of 8) at `path`.
bool WriteRandomFile(const std::string& path, size_t size) {
  std::vector<char> data(size);
  std::mt19937_64 rng(std::random_device{}());
  for (size_t i = 0; i + 8 <= size; i += 8) {
    uint64_t v = rng();
    std::memcpy(&data[i], &v, 8);
  }
  std::ofstream f(path, std::ios::binary);
  f.write(data.data(), static_cast<std::streamsize>(size));
  return f.good();
}

/// Removes its files when the test ends, however it ends.
struct Removed {
  std::string a, b;
  ~Removed() {
    std::error_code ec;
    std::filesystem::remove(a, ec);
    std::filesystem::remove(b, ec);
  }
};

class CppLab : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    reason_ = Lab::SkipReason();
    if (!reason_.empty()) return;
    try {
      lab_ = new Lab(Lab::DefaultName(), 3, 2);
    } catch (const std::exception& e) {
      error_ = e.what();
    }
  }

  static void TearDownTestSuite() {
    delete lab_;
    lab_ = nullptr;
  }

  void SetUp() override {
    if (!reason_.empty()) {
      if (Lab::Required()) FAIL() << "lab tests required (GECKO_CPP_LAB_REQUIRED=1) but: " << reason_;
      GTEST_SKIP() << reason_;
    }
    ASSERT_NE(lab_, nullptr) << "the lab did not come up: " << error_;
  }

  void TearDown() override {
    if (lab_) lab_->KillAll();
  }

  /// One connection of 64 bytes from `client`, echoed exactly.
  static void ShortEcho(const std::string& client) {
    Result r = lab_->Exec(client, 120, {"python3", kManyClient, lab_->g, "7", "1", "1", "64"});
    ASSERT_EQ(r.exit, 0) << r.out;
  }

  static Lab* lab_;
  static std::string reason_;
  static std::string error_;
};

Lab* CppLab::lab_ = nullptr;
std::string CppLab::reason_;
std::string CppLab::error_;

TEST_F(CppLab, ACppPolicyThatNamesNode2PlacesEveryConnectionThere) {
  lab_->StartServers(lab_->nodes, "one-node",
                     {ExamplePath("echo_server"), "--policy", "node=" + lab_->Address("node2")});
  for (int i = 0; i < 3; i++) {
    for (const std::string& client : lab_->clients) ASSERT_NO_FATAL_FAILURE(ShortEcho(client));
  }
  EXPECT_EQ(lab_->ByNode("gecko_connections_accepted_total"), (std::vector<double>{0, 6, 0}));
  EXPECT_EQ(lab_->ByNode("gecko_handoffs_total{direction=\"in\"}"), (std::vector<double>{0, 6, 0}));
}

TEST_F(CppLab, AThrowingPolicyStillServesAndItsMessageIsLogged) {
  std::vector<pid_t> servers =
      lab_->StartServers(lab_->nodes, "throwing", {ExamplePath("echo_server"), "--policy", "throwing"});
  for (int i = 0; i < 2; i++) {
    for (const std::string& client : lab_->clients) ASSERT_NO_FATAL_FAILURE(ShortEcho(client));
  }
  // An `H` asks the policy again mid-stream: the connection stays, echoed whole.
  Result r = lab_->Exec("client1", 120,
                        {"python3", kMidStreamClient, lab_->g, "7", std::to_string(256 << 10),
                         std::to_string(64 << 10)});
  ASSERT_EQ(r.exit, 0) << r.out;
  EXPECT_EQ(lab_->ByNode("gecko_connections_accepted_total"), (std::vector<double>{5, 0, 0}));
  EXPECT_EQ(lab_->ByNode("gecko_handoffs_total{direction=\"out\"}"), (std::vector<double>{0, 0, 0}));
  std::string log = lab_->Log("node1-throwing.log");
  EXPECT_TRUE(Contains(log, "SelectTarget threw")) << log;
  EXPECT_TRUE(Contains(log, "policy failure on purpose")) << log;
  EXPECT_TRUE(Contains(log, "ThrowingPolicy")) << log;
  for (pid_t p : servers) EXPECT_TRUE(lab_->Alive(p)) << "a server died";
}

TEST_F(CppLab, MidStreamHandoffsKeepTheEchoExactBothWays) {
  lab_->StartServers(lab_->nodes, "mid-stream", {ExamplePath("echo_server"), "--policy", "round-robin"});
  const int total = 2 << 20;
  const int every = 128 << 10;
  Result r = lab_->Exec("client2", 180,
                        {"python3", kMidStreamClient, lab_->g, "7", std::to_string(total), std::to_string(every)});
  ASSERT_EQ(r.exit, 0) << r.out;
  std::map<std::string, std::string> lines;
  std::istringstream out(r.out);
  for (std::string line; std::getline(out, line);) {
    size_t sp = line.find(' ');
    if (sp != std::string::npos) lines[line.substr(0, sp)] = line.substr(sp + 1);
  }
  EXPECT_EQ(lines["sent"] + " " + std::to_string(total), lines["received"]) << r.out;
  EXPECT_EQ(lines["h_bytes"], std::to_string(total / every));
  auto [moved, arrived] = SettledHandoffs(*lab_);
  EXPECT_GE(moved, 8);
  EXPECT_EQ(moved, arrived);
}

TEST_F(CppLab, ADownloadSurvivesTheSigkillOfItsNodesStreamServer) {
  const size_t size = 24 << 20;
  const std::string served = "/tmp/" + lab_->Name() + "-served.bin";
  const std::string got = "/tmp/" + lab_->Name() + "-download.bin";
  ASSERT_TRUE(WriteRandomFile(served, size));
  Removed cleanup{served, got};

  std::vector<pid_t> servers = lab_->StartServers(
      lab_->nodes, "stream",
      {ExamplePath("stream_server"), "--file", served, "--policy", "node=" + lab_->Address("node2")});
  pid_t curl = lab_->Spawn("client1", "client1-curl.log",
                           {"curl", "-gsS", "--fail", "--max-time", "60", "--limit-rate", "8M", "-o", got, "-w",
                            "%{http_code} %{size_download}\n", "http://[" + lab_->g + "]:8080/"});
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  ASSERT_TRUE(lab_->Alive(curl)) << "the download ended before the crash: " << lab_->Log("client1-curl.log");
  std::error_code ec;
  auto before = std::filesystem::exists(got) ? std::filesystem::file_size(got, ec) : 0;
  ASSERT_GT(before, 0u);
  ASSERT_LT(before, size);
  lab_->Kill(servers[1]);  // SIGKILL node2's server
  std::optional<int> code = lab_->Wait(curl, 90);
  ASSERT_TRUE(code.has_value()) << "curl did not end";
  std::string status = lab_->Log("client1-curl.log");
  ASSERT_EQ(*code, 0) << status;
  EXPECT_TRUE(Contains(status, "200 " + std::to_string(size) + "\n")) << status;
  EXPECT_EQ(Sha256(got), Sha256(served));
  std::vector<double> recoveries = lab_->ByNode("gecko_recoveries_total");
  EXPECT_GE(recoveries[0] + recoveries[2], 1) << "recoveries on node1 and node3";
  std::string resumed = lab_->Log("node1-stream.log") + lab_->Log("node3-stream.log");
  EXPECT_TRUE(Contains(resumed, "resuming the response at")) << resumed;
  std::printf("downloaded %zu bytes, %zu of them before node2's server was killed; recoveries by node: %g %g %g\n",
              size, static_cast<size_t>(before), recoveries[0], recoveries[1], recoveries[2]);
}

TEST_F(CppLab, AResponseHandedOffEvery4MiBArrivesWholeAndOtherRequestsAreRefused) {
  const size_t size = 24 << 20;
  const std::string served = "/tmp/" + lab_->Name() + "-served.bin";
  const std::string got = "/tmp/" + lab_->Name() + "-download.bin";
  ASSERT_TRUE(WriteRandomFile(served, size));
  Removed cleanup{served, got};
  lab_->StartServers(lab_->nodes, "every",
                     {ExamplePath("stream_server"), "--file", served, "--policy", "round-robin", "--handoff-every",
                      std::to_string(4 << 20)});
  const std::string url = "http://[" + lab_->g + "]:8080/";
  Result r = lab_->Exec("client1", 120,
                        {"curl", "-gsS", "--fail", "--max-time", "60", "-o", got, "-w", "%{http_code} %{size_download}", url});
  ASSERT_EQ(r.exit, 0) << r.out;
  EXPECT_EQ(r.out, "200 " + std::to_string(size));
  EXPECT_EQ(Sha256(got), Sha256(served));
  auto [moved, arrived] = SettledHandoffs(*lab_);
  EXPECT_GE(moved, 3);  // of the 6 at 4, 8, ..., 24 MiB, those where the policy chose another node
  EXPECT_EQ(moved, arrived);
  std::string logs;
  for (const std::string& n : lab_->nodes) logs += lab_->Log(n + "-every.log");
  EXPECT_TRUE(Contains(logs, "resuming the response at")) << logs;
  r = lab_->Exec("client2", 60, {"curl", "-gsS", "--max-time", "20", "-w", " %{http_code}", url + "nothing"});
  EXPECT_EQ(r.out, "404 Not Found\n 404") << r.out;
  r = lab_->Exec("client2", 60, {"curl", "-gsS", "--max-time", "20", "-X", "POST", "-w", " %{http_code}", url});
  EXPECT_EQ(r.out, "405 Method Not Allowed\n 405") << r.out;
}

TEST_F(CppLab, TheCppApiMisusedInANodeFailsCleanly) {
  lab_->StartServers({"node2"}, "target", {ExamplePath("echo_server"), "--policy", "random"});
  std::vector<pid_t> checks = lab_->StartServers({"node1"}, "checks", {GECKO_NODE_CHECKS, lab_->Address("node2")});
  Result r = lab_->Exec("client1", 180, {"python3", "-c", kChecksClient, lab_->g});
  std::optional<int> code = lab_->Wait(checks[0], 60);
  std::string log = lab_->Log("node1-checks.log");
  ASSERT_TRUE(code.has_value()) << "node_checks did not end: " << log;
  ASSERT_EQ(r.exit, 0) << r.out << "\n" << log;
  EXPECT_EQ(*code, 0) << log;
  for (const char* name : {"moved-from-framework", "accept-timeout", "moved-from-server-socket",
                           "accept-ended-by-close", "closed-socket", "moved-from-socket", "nonblocking-read",
                           "read-ended-by-close", "write-ended-by-close", "handoff-to-target",
                           "framework-destroyed"}) {
    EXPECT_TRUE(Contains(log, std::string("ok ") + name + "\n")) << name << ": " << log;
  }
  EXPECT_TRUE(Contains(log, "live 0\n")) << log;
  EXPECT_FALSE(Contains(log, "ERROR: AddressSanitizer")) << log;
  EXPECT_FALSE(Contains(log, "ERROR: LeakSanitizer")) << log;
  EXPECT_EQ(lab_->ByNode("gecko_handoffs_total{direction=\"in\"}")[1], 1.0);
  std::printf("%s", log.c_str());
}

TEST_F(CppLab, TwentyThreadsServeTenThousandConnectionsThroughOneFramework) {
  const int total = 10'000;
  std::vector<pid_t> server = lab_->StartServers({"node1"}, "threads", {GECKO_THREADED_ECHO, "20", std::to_string(total)});
  // Both clients at once, 20 connections in flight each; every echo checked by SHA-256.
  std::vector<pid_t> clients;
  for (const std::string& client : lab_->clients) {
    clients.push_back(lab_->Spawn(client, client + "-threads.log",
                                  {"python3", kManyClient, lab_->g, "7",
                                   std::to_string(total / lab_->clients.size()), "20", "256"}));
  }
  for (size_t i = 0; i < clients.size(); i++) {
    std::optional<int> code = lab_->Wait(clients[i], 600);
    ASSERT_TRUE(code.has_value()) << "a client hung";
    ASSERT_EQ(*code, 0) << lab_->Log(lab_->clients[i] + "-threads.log");
  }
  std::optional<int> code = lab_->Wait(server[0], 60);
  std::string log = lab_->Log("node1-threads.log");
  ASSERT_TRUE(code.has_value()) << "threaded_echo did not end: " << log;
  EXPECT_EQ(*code, 0) << log;
  EXPECT_TRUE(Contains(log, "served " + std::to_string(total) + " errors 0 accepts-ended-by-close 20 ")) << log;
  EXPECT_TRUE(Contains(log, " live 0\n")) << log;
  EXPECT_FALSE(Contains(log, "ERROR: AddressSanitizer")) << log;
  EXPECT_FALSE(Contains(log, "ERROR: LeakSanitizer")) << log;
  size_t at = log.rfind("served ");
  std::printf("%s", at == std::string::npos ? log.c_str() : log.substr(at).c_str());
}

TEST_F(CppLab, TheLowLevelApiBindsAClientToAnotherNodeAndClearsIt) {
  // node1 is G's contact through mip6_addr_active; node2 takes client1's
  // traffic with mip6_handoff_start (return routability through the home
  // agent and node1, then a Binding Update the client's agent acknowledges).
  pid_t contact = lab_->Spawn("node1", "node1-lowlevel.log", {GECKO_LOWLEVEL_NODE, "contact"});
  auto wait_for = [&](const std::string& log, const std::string& line, pid_t pid) {
    for (int i = 0; i < 300 && !Contains(lab_->Log(log), line); i++) {
      ASSERT_TRUE(lab_->Alive(pid)) << lab_->Log(log);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_TRUE(Contains(lab_->Log(log), line)) << lab_->Log(log);
  };
  wait_for("node1-lowlevel.log", "active\n", contact);
  pid_t takeover = lab_->Spawn("node2", "node2-lowlevel.log",
                               {GECKO_LOWLEVEL_NODE, "takeover", lab_->Address("client1")});
  wait_for("node2-lowlevel.log", "listening\n", takeover);
  // Port 7007 is served by node2 alone: the echo proves the client's traffic
  // for G goes there.
  Result r = lab_->Exec("client1", 120, {"python3", "-c", kEchoOnce, lab_->g, "7007", std::to_string(1 << 20)});
  EXPECT_EQ(r.exit, 0) << r.out << lab_->Log("node2-lowlevel.log");
  std::optional<int> code = lab_->Wait(takeover, 60);
  std::string log = lab_->Log("node2-lowlevel.log");
  ASSERT_TRUE(code.has_value()) << log;
  EXPECT_EQ(*code, 0) << log;
  EXPECT_TRUE(Contains(log, "holds=1\n")) << log;
  EXPECT_TRUE(Contains(log, "echoed 1048576 bytes\n")) << log;
  EXPECT_TRUE(Contains(log, "cleared holds=0\n")) << log;
  EXPECT_TRUE(lab_->Alive(contact)) << lab_->Log("node1-lowlevel.log");
}

}  // namespace
