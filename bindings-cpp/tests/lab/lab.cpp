// The lab helper of the C++ lab tests: see lab.hpp.
#include "lab.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>

extern char** environ;

#ifndef GECKO_REPO_DIR
#define GECKO_REPO_DIR "."
#endif
#ifndef GECKO_CPP_LAB_DEFAULT_NAME
#define GECKO_CPP_LAB_DEFAULT_NAME "gk-cpp-lab"
#endif

namespace gecko_lab {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string Joined(const std::vector<std::string>& cmd) {
  std::string s;
  for (const std::string& c : cmd) s += (s.empty() ? "" : " ") + (c.size() > 60 ? c.substr(0, 57) + "..." : c);
  return s;
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

int Code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

/// Starts `cmd` in a process group of its own, stdin from /dev/null, stdout
/// (and stderr if `stderr_too`, else /dev/null) to `out` (appended or not).
pid_t SpawnTo(const std::vector<std::string>& cmd, const std::string& out, bool append, bool stderr_too) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC), 0644);
  if (stderr_too) {
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
  } else {
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  }
  posix_spawnattr_t at;
  posix_spawnattr_init(&at);
  sigset_t none;
  sigemptyset(&none);
  sigset_t defaults;
  sigemptyset(&defaults);
  for (int s : {SIGPIPE, SIGINT, SIGTERM, SIGHUP}) sigaddset(&defaults, s);
  posix_spawnattr_setsigmask(&at, &none);
  posix_spawnattr_setsigdefault(&at, &defaults);
  posix_spawnattr_setpgroup(&at, 0);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> argv;
  for (const std::string& c : cmd) argv.push_back(const_cast<char*>(c.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, argv[0], &fa, &at, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  if (rc != 0) throw std::system_error(rc, std::generic_category(), "starting " + Joined(cmd));
  return pid;
}

/// Waits for `pid` until `deadline`: its exit code, or nullopt.
std::optional<int> WaitUntil(pid_t pid, Clock::time_point deadline) {
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return Code(status);
    if (r < 0 && errno != EINTR) return -1;
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

Result RunTo(const std::vector<std::string>& cmd, int timeout_s, bool stderr_too) {
  char path[] = "/tmp/gk-cpp-run-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "mkstemp");
  ::close(fd);
  Result r;
  try {
    pid_t pid = SpawnTo(cmd, path, false, stderr_too);
    std::optional<int> code = WaitUntil(pid, Clock::now() + std::chrono::seconds(timeout_s));
    if (!code) {
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      throw std::runtime_error("timed out after " + std::to_string(timeout_s) + " s: " + Joined(cmd) +
                               "\n" + ReadFile(path));
    }
    r.exit = *code;
    r.out = ReadFile(path);
  } catch (...) {
    ::unlink(path);
    throw;
  }
  ::unlink(path);
  return r;
}

// If the test program is ended by a signal (ctest's timeout, ^C), the lab
// goes down all the same: the handler kills what was started and runs
// `gecko-lab down`, with what it needs prepared ahead (async-signal-safe).
constexpr int kMaxGroups = 512;
std::atomic<pid_t> g_groups[kMaxGroups];
std::string g_down_storage[4];
char* g_down_argv[5];
std::atomic<bool> g_armed{false};

void OnSignal(int sig) {
  for (auto& g : g_groups) {
    pid_t p = g.load();
    if (p > 0) kill(-p, SIGKILL);
  }
  if (g_armed.load()) {
    pid_t p = fork();
    if (p == 0) {
      execv(g_down_argv[0], g_down_argv);
      _exit(127);
    }
    if (p > 0) waitpid(p, nullptr, 0);
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

void Remember(pid_t pid) {
  for (auto& g : g_groups) {
    pid_t empty = 0;
    if (g.compare_exchange_strong(empty, pid)) return;
  }
}

void Forget(pid_t pid) {
  for (auto& g : g_groups) {
    pid_t p = pid;
    if (g.compare_exchange_strong(p, 0)) return;
  }
}

}  // namespace

std::string Lab::Binary() {
  std::string env = Env("GECKO_LAB");
  if (!env.empty()) return env;
  std::vector<fs::path> roots;
  if (!Env("CARGO_TARGET_DIR").empty()) roots.emplace_back(Env("CARGO_TARGET_DIR"));
  roots.emplace_back(fs::path(GECKO_REPO_DIR) / "target");
  std::string best;
  fs::file_time_type newest{};
  for (const fs::path& r : roots) {
    for (const char* kind : {"release", "debug"}) {
      fs::path p = r / kind / "gecko-lab";
      std::error_code ec;
      if (!fs::is_regular_file(p, ec)) continue;
      auto t = fs::last_write_time(p, ec);
      if (!ec && (best.empty() || t > newest)) {
        best = p.string();
        newest = t;
      }
    }
  }
  return best;
}

std::string Lab::DefaultName() {
  std::string env = Env("GECKO_CPP_LAB_NAME");
  return env.empty() ? GECKO_CPP_LAB_DEFAULT_NAME : env;
}

std::string Lab::ExamplesDir() { return Env("GECKO_CPP_EXAMPLES"); }

bool Lab::Required() { return Env("GECKO_CPP_LAB_REQUIRED") == "1"; }

std::string Lab::SkipReason() {
  if (geteuid() != 0) return "lab tests need root (network namespaces)";
  if (Binary().empty()) return "no gecko-lab binary: run `cargo build -p gecko-lab` first (or set GECKO_LAB)";
  std::string dir = ExamplesDir();
  if (dir.empty()) {
    return "GECKO_CPP_EXAMPLES is not set: the directory of echo_server and stream_server built from examples/cpp";
  }
  for (const char* p : {"echo_server", "stream_server"}) {
    if (access((fs::path(dir) / p).c_str(), X_OK) != 0) {
      return std::string("no ") + p + " in GECKO_CPP_EXAMPLES=" + dir + ": build examples/cpp first";
    }
  }
  return "";
}

Result Lab::Run(const std::vector<std::string>& cmd, int timeout_s) { return RunTo(cmd, timeout_s, true); }

Lab::Lab(std::string name, int node_count, int client_count) : name_(std::move(name)), bin_(Binary()) {
  if (name_.rfind("gk-cpp", 0) != 0 || name_.size() > 15) {
    throw std::invalid_argument("this binding's labs are named gk-cpp*, at most 15 characters, not `" + name_ + "`");
  }
  if (bin_.empty()) throw std::runtime_error("no gecko-lab binary");
  logs_ = "/tmp/" + name_ + "-logs";
  std::error_code ec;
  fs::remove_all(logs_, ec);
  fs::create_directories(logs_);

  g_down_storage[0] = bin_;
  g_down_storage[1] = "down";
  g_down_storage[2] = "--name";
  g_down_storage[3] = name_;
  for (int i = 0; i < 4; i++) g_down_argv[i] = const_cast<char*>(g_down_storage[i].c_str());
  g_down_argv[4] = nullptr;
  g_armed = true;
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaction(s, &sa, nullptr);

  Run({bin_, "down", "--name", name_}, 120);
  Result up = Run({bin_, "up", "--name", name_, "--nodes", std::to_string(node_count), "--clients",
                   std::to_string(client_count)},
                  300);
  if (up.exit != 0) throw std::runtime_error("gecko-lab up failed: " + up.out);

  std::string status_path = logs_ + "/status.json";
  Result status = RunTo({"sh", "-c", "exec \"$0\" status --name \"$1\" --json > \"$2\"", bin_, name_, status_path},
                        60, true);
  if (status.exit != 0) throw std::runtime_error("gecko-lab status failed: " + status.out);
  // The JSON, flattened by python3 (which the clients need anyway).
  Result flat = Run({"python3", "-c",
                     "import json, sys\n"
                     "s = json.load(open(sys.argv[1]))\n"
                     "print('g', s['global_address'])\n"
                     "for h, v in sorted(s['hosts'].items()):\n"
                     "    print('host', h, v['role'], v['address'], v['metrics'])\n",
                     status_path},
                    60);
  if (flat.exit != 0) throw std::runtime_error("cannot read gecko-lab status: " + flat.out);
  std::istringstream lines(flat.out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream w(line);
    std::string kind, host, role, address, metrics;
    w >> kind;
    if (kind == "g") {
      w >> g;
    } else if (kind == "host") {
      w >> host >> role >> address >> metrics;
      hosts_[host] = {address, metrics};
      if (role == "node") nodes.push_back(host);
      if (role == "client") clients.push_back(host);
    }
  }
  if (g.empty() || static_cast<int>(nodes.size()) != node_count ||
      static_cast<int>(clients.size()) != client_count) {
    throw std::runtime_error("unexpected gecko-lab status: " + flat.out);
  }
}

Lab::~Lab() {
  try {
    Down();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "taking lab %s down: %s\n", name_.c_str(), e.what());
  }
}

std::string Lab::Address(const std::string& host) const { return hosts_.at(host).first; }

std::vector<std::string> Lab::Command(const std::string& host, const std::vector<std::string>& cmd) const {
  std::vector<std::string> c{bin_, "exec", "--name", name_, host, "--"};
  c.insert(c.end(), cmd.begin(), cmd.end());
  return c;
}

Result Lab::Exec(const std::string& host, int timeout_s, const std::vector<std::string>& cmd) const {
  return Run(Command(host, cmd), timeout_s);
}

pid_t Lab::Spawn(const std::string& host, const std::string& log, const std::vector<std::string>& cmd) {
  pid_t pid = SpawnTo(Command(host, cmd), LogPath(log), true, true);
  procs_[pid] = std::nullopt;
  Remember(pid);
  return pid;
}

std::string Lab::LogPath(const std::string& log) const { return logs_ + "/" + log; }

std::string Lab::Log(const std::string& log) const { return ReadFile(LogPath(log)); }

std::optional<int> Lab::Wait(pid_t pid, int timeout_s) {
  auto it = procs_.find(pid);
  if (it != procs_.end() && it->second) return it->second;
  std::optional<int> code = WaitUntil(pid, Clock::now() + std::chrono::seconds(timeout_s));
  if (code) {
    procs_[pid] = code;
    Forget(pid);
  }
  return code;
}

bool Lab::Alive(pid_t pid) { return !Wait(pid, 0).has_value(); }

void Lab::Kill(pid_t pid) {
  if (!Alive(pid)) return;
  kill(-pid, SIGKILL);
  kill(pid, SIGKILL);
  Wait(pid, 10);
}

void Lab::KillAll() {
  for (auto& [pid, code] : procs_) {
    if (!code) {
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
    }
  }
  for (auto& [pid, code] : procs_) {
    if (!code) Wait(pid, 10);
    Forget(pid);
  }
  procs_.clear();
}

std::optional<std::string> Lab::Metrics(const std::string& host) const {
  Result r = RunTo(Command(host, {"curl", "-s", "--max-time", "2", hosts_.at(host).second}), 10, false);
  if (r.exit != 0 || r.out.empty()) return std::nullopt;
  return r.out;
}

std::vector<double> Lab::ByNode(const std::string& series) const {
  std::vector<double> values;
  for (const std::string& n : nodes) {
    double v = 0;
    std::istringstream text(Metrics(n).value_or(""));
    for (std::string line; std::getline(text, line);) {
      if (line.rfind(series + " ", 0) == 0) v = std::stod(line.substr(line.rfind(' ') + 1));
    }
    values.push_back(v);
  }
  return values;
}

std::vector<pid_t> Lab::StartServers(const std::vector<std::string>& on, const std::string& tag,
                                     const std::vector<std::string>& cmd) {
  std::vector<pid_t> started;
  for (const std::string& node : on) started.push_back(Spawn(node, node + "-" + tag + ".log", cmd));
  for (size_t i = 0; i < on.size(); i++) {
    auto deadline = Clock::now() + std::chrono::seconds(30);
    while (!Metrics(on[i])) {
      if (!Alive(started[i]) || Clock::now() > deadline) {
        throw std::runtime_error(on[i] + " not serving (" + Joined(cmd) + "): " + Log(on[i] + "-" + tag + ".log"));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(kLoadSettleMs));
  return started;
}

void Lab::Down() {
  KillAll();
  if (bin_.empty()) return;
  Result r = Run({bin_, "down", "--name", name_}, 120);
  if (r.exit != 0) std::fprintf(stderr, "gecko-lab down --name %s: %s\n", name_.c_str(), r.out.c_str());
  g_armed = false;
}

}  // namespace gecko_lab
