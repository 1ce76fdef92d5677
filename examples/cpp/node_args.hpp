// The command line every Gecko server takes to be a node, in C++ (as Java's
// dev.gecko.NodeOptions, Python's examples/python/_node_args.py and the Rust
// servers' NodeArgs):
//
//   --config/-g FILE   the distributed server's configuration   [GECKO_CONFIG]
//   --local ADDR       this node's own address                   [GECKO_LOCAL_ADDRESS]
//   --iface NAME       this node's network interface             [GECKO_INTERFACE, else eth0]
//   --policy SPEC      a shipped policy by name (random, round-robin,
//                      least-connections, proximity; default random), or
//                      node=ADDR: every connection to that node while it is
//                      available, else kept here (a policy written in C++)
//
// plus each program's own flags. `gecko-lab exec` sets the GECKO_* variables,
// so inside a lab host no flag is needed. A flag's value may follow it or be
// joined with `=` (`--port=7`); -h/--help prints the flags.
//
// For the lab tests only: `--policy throwing` is a C++ policy whose
// SelectTarget always throws std::runtime_error("policy failure on
// purpose"): every connection stays where it arrived, and the library logs
// the exception's message. It is not listed by --help.
//
//   gecko_examples::NodeArgs args = gecko_examples::NodeArgs::Parse(argc, argv, {{"--port", "the port (7)"}});
//   uint16_t port = args.Port("--port", 7);
//   gecko::GeckoFramework framework = args.Start();
//
// Header-only: the examples are single files that include it.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "gecko/gecko.hpp"

namespace gecko_examples {

/// `literal` as an IPv6 address; std::invalid_argument naming `flag` otherwise.
inline in6_addr ParseAddress(const std::string& literal, const std::string& flag) {
  in6_addr a{};
  if (inet_pton(AF_INET6, literal.c_str(), &a) != 1) {
    throw std::invalid_argument(flag + " needs an IPv6 address, not `" + literal + "`");
  }
  return a;
}

/// `a` as text.
inline std::string AddressText(const in6_addr& a) {
  char buf[INET6_ADDRSTRLEN];
  return inet_ntop(AF_INET6, &a, buf, sizeof buf) ? buf : "?";
}

/// Every connection to one node while it is available; else kept here.
class OneNodePolicy : public gecko::GeckoPolicy {
 public:
  explicit OneNodePolicy(const in6_addr& node) : node_(node) {}
  std::optional<in6_addr> SelectTarget(const gecko::ClientInfo& client) override {
    for (const gecko::NodeInfo& n : client.nodes) {
      if (n.available && std::memcmp(&n.address, &node_, sizeof node_) == 0) return node_;
    }
    return std::nullopt;
  }

 private:
  const in6_addr node_;
};

/// For the lab tests: SelectTarget always throws.
class ThrowingPolicy : public gecko::GeckoPolicy {
 public:
  std::optional<in6_addr> SelectTarget(const gecko::ClientInfo&) override {
    throw std::runtime_error("policy failure on purpose");
  }
};

/// One of a program's own flags, for --help.
struct Flag {
  std::string name;
  std::string help;
};

/// The parsed command line: the node's flags over the GECKO_* variables, and
/// the program's own.
class NodeArgs {
 public:
  /// Parses argv[1..]. std::invalid_argument for an unknown flag, a flag
  /// without a value, or no configuration or local address either way.
  /// -h/--help prints the flags and exits 0.
  static NodeArgs Parse(int argc, char** argv, const std::vector<Flag>& own = {}) {
    std::vector<std::string> args(argv + (argc > 0 ? 1 : 0), argv + (argc > 0 ? argc : 0));
    return Parse(argc > 0 ? argv[0] : "server", args, own);
  }

  static NodeArgs Parse(const std::string& program, const std::vector<std::string>& args,
                        const std::vector<Flag>& own = {}) {
    NodeArgs a;
    a.values_["--config"] = Env("GECKO_CONFIG");
    a.values_["--local"] = Env("GECKO_LOCAL_ADDRESS");
    std::optional<std::string> iface = Env("GECKO_INTERFACE");
    a.values_["--iface"] = iface ? *iface : "eth0";
    a.values_["--policy"] = "random";
    for (const Flag& f : own) a.values_.emplace(f.name, std::nullopt);
    for (size_t i = 0; i < args.size(); i++) {
      std::string arg = args[i];
      if (arg == "-h" || arg == "--help") {
        std::printf("%s", Usage(program, own).c_str());
        std::exit(0);
      }
      std::optional<std::string> value;
      size_t eq = arg.find('=');
      if (arg.rfind("--", 0) == 0 && eq != std::string::npos) {
        value = arg.substr(eq + 1);
        arg = arg.substr(0, eq);
      }
      std::string name = arg == "-g" ? "--config" : arg;
      if (a.values_.count(name) == 0) {
        throw std::invalid_argument("unknown flag: " + arg + " (see --help)");
      }
      if (!value) {
        if (i + 1 == args.size()) throw std::invalid_argument("flag " + arg + " needs a value");
        value = args[++i];
      }
      a.values_[name] = *value;
    }
    if (!a.values_["--config"] || !a.values_["--local"]) {
      throw std::invalid_argument("--config and --local are needed (or GECKO_CONFIG and GECKO_LOCAL_ADDRESS)");
    }
    return a;
  }

  /// A flag's value; empty when not given and without a default.
  std::optional<std::string> Get(const std::string& flag) const {
    auto it = values_.find(flag);
    return it == values_.end() ? std::nullopt : it->second;
  }

  /// A flag's value as a whole number in [min, max]; `otherwise` when not given.
  long long Number(const std::string& flag, long long otherwise, long long min, long long max) const {
    std::optional<std::string> v = Get(flag);
    if (!v) return otherwise;
    errno = 0;
    char* end = nullptr;
    long long n = std::strtoll(v->c_str(), &end, 10);
    if (v->empty() || *end != '\0' || errno == ERANGE || n < min || n > max) {
      throw std::invalid_argument(flag + " needs a number from " + std::to_string(min) + " to " +
                                  std::to_string(max) + ", not `" + *v + "`");
    }
    return n;
  }

  /// A port flag's value (1 to 65535).
  uint16_t Port(const std::string& flag, uint16_t otherwise) const {
    return static_cast<uint16_t>(Number(flag, otherwise, 1, 65535));
  }

  /// The policy --policy names (a new one; std::invalid_argument if it names none).
  std::shared_ptr<gecko::GeckoPolicy> Policy() const {
    std::string spec = *Get("--policy");
    if (spec.rfind("node=", 0) == 0) {
      return std::make_shared<OneNodePolicy>(ParseAddress(spec.substr(5), "--policy node="));
    }
    if (spec == "throwing") return std::make_shared<ThrowingPolicy>();
    try {
      return gecko::PolicyByName(spec);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(std::string("--policy: ") + e.what() + ", or node=ADDR");
    }
  }

  /// This node's address (--local).
  in6_addr Local() const { return ParseAddress(*Get("--local"), "--local"); }

  /// Starts this node with the policy of --policy (checked before the node starts).
  gecko::GeckoFramework Start() const { return Start(Policy()); }

  /// Starts this node with `policy`.
  gecko::GeckoFramework Start(std::shared_ptr<gecko::GeckoPolicy> policy) const {
    gecko::GeckoFramework framework(Local(), *Get("--config"), *Get("--iface"));
    framework.SetPolicy(std::move(policy));
    return framework;
  }

  /// What --help prints.
  static std::string Usage(const std::string& program, const std::vector<Flag>& own) {
    std::string names;
    for (const std::string& n : gecko::PolicyNames()) names += (names.empty() ? "" : ", ") + n;
    std::string u = "Usage: " + program + " [FLAGS]\n\n";
    u += "  --config, -g FILE   the distributed server's configuration [GECKO_CONFIG]\n";
    u += "  --local ADDR        this node's own address [GECKO_LOCAL_ADDRESS]\n";
    u += "  --iface NAME        this node's network interface [GECKO_INTERFACE, else eth0]\n";
    u += "  --policy SPEC       " + names + " (default random),\n";
    u += "                      or node=ADDR (every connection to that node while it is available)\n";
    for (const Flag& f : own) {
      std::string name = f.name + " VALUE";
      u += "  " + name + std::string(name.size() < 20 ? 20 - name.size() : 1, ' ') + f.help + "\n";
    }
    return u;
  }

 private:
  static std::optional<std::string> Env(const char* name) {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') return std::nullopt;
    return std::string(v);
  }

  std::map<std::string, std::optional<std::string>> values_;
};

}  // namespace gecko_examples
