// A lab for the C++ binding's lab tests (as bindings-java's Lab.java and
// bindings-python/tests/labutil.py): `gecko-lab` builds network namespaces
// with the home agent and the client agents; programs run in the hosts
// through `gecko-lab exec`. Down() (and the destructor) kills what was
// started here and takes the lab down.
#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace gecko_lab {

/// A finished command's exit code (128 + signal if killed) and output
/// (stdout and stderr together).
struct Result {
  int exit = -1;
  std::string out;
};

class Lab {
 public:
  /// Nodes report their load every 200 ms; policies pick only nodes heard from.
  static constexpr int kLoadSettleMs = 800;

  /// The gecko-lab binary: $GECKO_LAB, else the newest of
  /// {$CARGO_TARGET_DIR,REPO/target}/{release,debug}/gecko-lab; "" if none.
  static std::string Binary();
  /// This binary's lab name: $GECKO_CPP_LAB_NAME, else the build's
  /// (gk-cpp-lab, or gk-cpp-asan for the sanitized build).
  static std::string DefaultName();
  /// The examples' directory ($GECKO_CPP_EXAMPLES), "" if unset.
  static std::string ExamplesDir();
  /// Why lab tests cannot run here ("": they can): root, gecko-lab, the
  /// example binaries.
  static std::string SkipReason();
  /// True when GECKO_CPP_LAB_REQUIRED=1: a missing prerequisite fails.
  static bool Required();
  /// Runs `cmd` (not in a lab) and waits at most `timeout_s` (then kills it
  /// and throws).
  static Result Run(const std::vector<std::string>& cmd, int timeout_s);

  /// Takes any old lab of that name down, then brings a new one up. The
  /// name starts gk-cpp and has at most 15 characters.
  Lab(std::string name, int nodes, int clients);
  ~Lab();
  Lab(const Lab&) = delete;
  Lab& operator=(const Lab&) = delete;

  const std::string& Name() const { return name_; }
  /// G.
  std::string g;
  /// The hosts by role, in name order.
  std::vector<std::string> nodes;
  std::vector<std::string> clients;

  /// The address of `host`.
  std::string Address(const std::string& host) const;
  /// `cmd` as run inside `host`.
  std::vector<std::string> Command(const std::string& host, const std::vector<std::string>& cmd) const;
  /// Runs `cmd` in `host` and waits.
  Result Exec(const std::string& host, int timeout_s, const std::vector<std::string>& cmd) const;
  /// Starts `cmd` in `host` (its own process group), its output appended to
  /// the log file `log`; killed by KillAll().
  pid_t Spawn(const std::string& host, const std::string& log, const std::vector<std::string>& cmd);
  /// The path of the log file `log`.
  std::string LogPath(const std::string& log) const;
  /// What the log file `log` holds ("" if none).
  std::string Log(const std::string& log) const;
  /// True while `pid` (started here) runs.
  bool Alive(pid_t pid);
  /// Waits at most `timeout_s` for `pid`: its exit code (128 + signal), or
  /// nullopt if it still runs.
  std::optional<int> Wait(pid_t pid, int timeout_s);
  /// SIGKILLs `pid`'s process group and reaps it.
  void Kill(pid_t pid);
  /// Kills everything started here.
  void KillAll();
  /// The node's metrics text, or nullopt when it does not serve them.
  std::optional<std::string> Metrics(const std::string& host) const;
  /// The value of `series` (name with labels, as printed) on each node, 0
  /// where absent.
  std::vector<double> ByNode(const std::string& series) const;
  /// Runs `cmd` on each of `on`, its log `NODE-TAG.log`; returns once each
  /// serves its metrics and the load reports settled (throws with the log
  /// if one died or did not come up in 30 s).
  std::vector<pid_t> StartServers(const std::vector<std::string>& on, const std::string& tag,
                                  const std::vector<std::string>& cmd);
  /// Kills what was started and takes the lab down (again: harmless).
  void Down();

 private:
  std::string name_;
  std::string bin_;
  std::string logs_;
  std::map<std::string, std::pair<std::string, std::string>> hosts_;  // name -> (address, metrics)
  std::map<pid_t, std::optional<int>> procs_;                         // exit code once reaped
};

}  // namespace gecko_lab
