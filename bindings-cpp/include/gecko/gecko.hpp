// Gecko for C++: the seed's distributed-server API (GeckoFramework,
// GeckoPolicy, GeckoServerSocket, GeckoSocket) on the Rust core.
//
//   gecko::GeckoFramework gecko(local, "gecko.toml", "eth0");
//   gecko.SetPolicy(std::make_shared<gecko::RoundRobinPolicy>());
//   auto server = gecko.GetServerSocket();
//   for (;;) {
//     std::unique_ptr<gecko::GeckoSocket> socket = server->Accept();
//     ...  // socket->Read, socket->Write, socket->Handoff()
//   }
//
// Errors are exceptions: gecko::Error and its kinds for Gecko's own,
// std::system_error (with the errno) for the operating system's,
// std::invalid_argument for a bad argument. Where the seed returned an int
// status, the call returns normally on success and throws otherwise; Read
// and Write keep the socket's form (a count; -1 with errno EAGAIN when a
// non-blocking socket would wait). Objects are movable, not copyable; a
// destructor closes. A moved-from object throws gecko::ClosedError, but
// Close() on it does nothing. Thread-safe: one thread may read while
// another writes, and Close() from another thread ends a blocked Accept,
// Read or Write.
#pragma once

#include <netinet/in.h>
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace gecko {

namespace ffi {
struct Policy;  // the Rust side's, opaque here
}

/// Every error of Gecko's own. what() is the library's message.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
/// The configuration file is bad (the message names file, line and field),
/// or the local address is none of its nodes.
class ConfigError : public Error {
 public:
  using Error::Error;
};
/// The node could not start or signal (interface, registration, membership).
class NodeError : public Error {
 public:
  using Error::Error;
};
/// A handoff failed or could not start (one runs already); the connection
/// stays on this node.
class HandoffError : public Error {
 public:
  using Error::Error;
};
/// The connection is served by another node now.
class MovedError : public Error {
 public:
  using Error::Error;
};
/// The framework, server socket or socket is closed, or the object was moved
/// from.
class ClosedError : public Error {
 public:
  using Error::Error;
};
/// This framework serves that port already.
class PortInUseError : public Error {
 public:
  using Error::Error;
};
/// The call cannot be made here (a handoff of a connection the distributed
/// server does not serve).
class UsageError : public Error {
 public:
  using Error::Error;
};

/// Bytes written into and read from a connection since it opened, on
/// whichever nodes served it.
struct StreamOffsets {
  /// Sent to the client and acknowledged by it.
  uint64_t sent = 0;
  /// Received from the client.
  uint64_t received = 0;
};

/// One node as a policy sees it.
struct NodeInfo {
  /// The node's own address: what a policy returns to choose it.
  in6_addr address{};
  /// Connections it serves now.
  uint32_t connections = 0;
  /// Its measured round-trip time to the client, if it has one.
  std::optional<std::chrono::nanoseconds> rtt;
  /// False for a node that did not report lately or just failed a handoff.
  bool available = false;
};

/// A connection a policy places.
struct ClientInfo {
  /// The client's address.
  in6_addr address{};
  /// The client's port.
  uint16_t port = 0;
  /// The node asking (the one serving the connection now).
  in6_addr local{};
  /// Every node, this one included.
  std::vector<NodeInfo> nodes;
  /// The nodes a policy may choose from.
  std::vector<NodeInfo> Available() const;
};

/// Decides which node serves a connection: at establishment and when
/// GeckoSocket::Handoff() asks. Derive from it, or use a shipped policy.
/// The framework calls it from its own threads, possibly several at once:
/// a policy must be thread-safe. An exception thrown here is caught, logged,
/// and counts as "keep it here".
class GeckoPolicy {
 public:
  virtual ~GeckoPolicy() = default;
  /// The node that should serve `client`'s connection; empty (or this
  /// node's address) keeps it here.
  virtual std::optional<in6_addr> SelectTarget(const ClientInfo& client) = 0;
  /// A handoff toward `target` failed; the connection stayed. Default: nothing.
  virtual void NotifyFailedHandoff(const in6_addr& target) { (void)target; }
};

/// A policy shipped with Gecko: it decides in the library, with no C++ call
/// per connection.
class ShippedPolicy : public GeckoPolicy {
 public:
  ~ShippedPolicy() override;
  /// The library's decision.
  std::optional<in6_addr> SelectTarget(const ClientInfo& client) final;
  /// Told to the library.
  void NotifyFailedHandoff(const in6_addr& target) final;
  /// Its name, as PolicyByName knows it.
  const std::string& Name() const { return name_; }

 protected:
  /// The shipped policy `name` (std::invalid_argument if unknown).
  explicit ShippedPolicy(const std::string& name);

 private:
  friend class GeckoFramework;
  template <class F>
  friend auto WithCore(const std::shared_ptr<GeckoPolicy>&, F&&);
  struct Native;
  static const ffi::Policy& NativeOf(const ShippedPolicy& p);
  std::string name_;
  std::unique_ptr<Native> native_;
};

/// Any available node, uniformly at random (the seed's policy).
class RandomPolicy final : public ShippedPolicy {
 public:
  RandomPolicy() : ShippedPolicy("random") {}
};
/// The available nodes in turn.
class RoundRobinPolicy final : public ShippedPolicy {
 public:
  RoundRobinPolicy() : ShippedPolicy("round-robin") {}
};
/// The available node serving the fewest connections.
class LeastConnectionsPolicy final : public ShippedPolicy {
 public:
  LeastConnectionsPolicy() : ShippedPolicy("least-connections") {}
};
/// The available node nearest the client by measured round-trip time.
class ProximityPolicy final : public ShippedPolicy {
 public:
  ProximityPolicy() : ShippedPolicy("proximity") {}
};

/// A new shipped policy by the name every language uses ("random",
/// "round-robin", "least-connections", "proximity"); std::invalid_argument
/// naming the known ones otherwise.
std::shared_ptr<GeckoPolicy> PolicyByName(const std::string& name);
/// The shipped policies' names.
std::vector<std::string> PolicyNames();

namespace detail {
/// What AskFromCoreThread measured.
struct Asked {
  /// The policy's last answer.
  std::optional<in6_addr> choice;
  /// Time per call.
  std::chrono::nanoseconds per_call{0};
};
/// Asks `policy` `calls` times from a new thread of the library's, exactly
/// as the framework does (through the same adapter: an exception is logged
/// and counts as "keep it here"). For tests and benchmarks.
Asked AskFromCoreThread(const std::shared_ptr<GeckoPolicy>& policy, const ClientInfo& client, unsigned calls);
}  // namespace detail

/// Sends the library's log lines to stderr, filtered by `filter` (as
/// RUST_LOG: "info", "gecko=debug"); empty reads RUST_LOG. The first call
/// in a process wins; a framework calls it with "" if nothing did.
void InitLogging(const std::string& filter = "");

/// How many native objects the process holds (frameworks, server sockets,
/// sockets, policies). For leak tests.
std::size_t LiveNativeObjects();

/// One client connection served by this node. It may move to another node
/// (Handoff) and survives the crash of the node serving it (Recovered).
class GeckoSocket {
 public:
  ~GeckoSocket();
  GeckoSocket(GeckoSocket&&) noexcept;
  GeckoSocket& operator=(GeckoSocket&&) noexcept;
  GeckoSocket(const GeckoSocket&) = delete;
  GeckoSocket& operator=(const GeckoSocket&) = delete;

  /// Up to `nbytes` into `buf`: how many, 0 once the client closed its side;
  /// -1 with errno EAGAIN when non-blocking and nothing is there. Throws
  /// MovedError once served elsewhere, ClosedError once closed,
  /// std::system_error on the operating system's failure.
  ssize_t Read(void* buf, size_t nbytes);
  /// Some of `buf`: how many bytes; -1 with errno EAGAIN when non-blocking
  /// and the connection takes none now. Throws as Read.
  ssize_t Write(const void* buf, size_t nbytes);
  /// All of `buf` (blocking mode), or throws.
  void WriteAll(const void* buf, size_t nbytes);
  /// Blocking reads and writes (the default).
  void SetBlocking();
  /// Non-blocking reads and writes (also while a non-blocking handoff runs).
  void SetNonBlocking();
  /// True unless SetNonBlocking() was called last.
  bool IsBlocking() const;
  /// The client's address and port (the seed's getpeername).
  sockaddr_in6 GetPeerName() const;
  /// G and the port served.
  sockaddr_in6 GetSockName() const;
  /// Hands the connection to the node the policy chooses. Blocking: true once
  /// served there (this object is then done), false when it stays here.
  /// Non-blocking: true at once; the handoff runs in the background.
  bool Handoff(bool nonblocking = false);
  /// The same toward `target`; HandoffError if that node did not take it.
  bool Handoff(const in6_addr& target, bool nonblocking = false);
  /// Closes the connection (a FIN to the client unless it was handed off);
  /// Read or Write blocked in another thread end. Again: nothing.
  void Close();
  /// Closes with a reset (a recovered connection the program cannot resume).
  void Reset();
  /// Bytes sent (acknowledged) and received since the connection opened.
  StreamOffsets Position() const;
  /// For a connection recovered after its node crashed: where to resume.
  std::optional<StreamOffsets> Recovered() const;
  /// True if the connection came from another node by a handoff.
  bool HandedIn() const;
  /// True once another node serves it.
  bool IsMoved() const;
  /// The descriptor, for the caller's own poll/epoll (read and write through
  /// this object: a handoff replaces what it refers to); -1 once closed.
  int Fd() const;

  struct Impl;

 private:
  friend class GeckoServerSocket;
  explicit GeckoSocket(std::unique_ptr<Impl> impl);
  const Impl& Get() const;
  std::unique_ptr<Impl> impl_;
};

/// The connections this node serves on one port of G: accepted here or
/// handed in by another node. Several threads may accept at once.
class GeckoServerSocket {
 public:
  ~GeckoServerSocket();
  GeckoServerSocket(GeckoServerSocket&&) noexcept;
  GeckoServerSocket& operator=(GeckoServerSocket&&) noexcept;
  GeckoServerSocket(const GeckoServerSocket&) = delete;
  GeckoServerSocket& operator=(const GeckoServerSocket&) = delete;

  /// The next connection; blocks until one comes. ClosedError once Close()
  /// ran (also from another thread, which ends a blocked Accept).
  std::unique_ptr<GeckoSocket> Accept();
  /// The same, waiting at most `timeout`: nullptr when it passed.
  std::unique_ptr<GeckoSocket> Accept(std::chrono::milliseconds timeout);
  /// Stops serving the port on this node. Again: nothing.
  void Close();
  /// The port served at G.
  uint16_t Port() const;

  struct Impl;

 private:
  friend class GeckoFramework;
  explicit GeckoServerSocket(std::unique_ptr<Impl> impl);
  const Impl& Get() const;
  std::unique_ptr<Impl> impl_;
};

/// This process as one node of a distributed server: clients see every node
/// as one IPv6 address (GlobalAddress), and connections move between nodes,
/// also when one crashes. Destroying it stops the node; sockets already
/// accepted stay usable until closed.
class GeckoFramework {
 public:
  /// Starts the node whose address is `local_address` in the configuration
  /// file `config_filename`, on `network_interface`. ConfigError, NodeError
  /// or std::system_error when it cannot.
  GeckoFramework(const in6_addr& local_address, const std::string& config_filename,
                 const std::string& network_interface);
  ~GeckoFramework();
  GeckoFramework(GeckoFramework&&) noexcept;
  GeckoFramework& operator=(GeckoFramework&&) noexcept;
  GeckoFramework(const GeckoFramework&) = delete;
  GeckoFramework& operator=(const GeckoFramework&) = delete;

  /// Places connections by `policy` from now on (nullptr: std::invalid_argument).
  void SetPolicy(std::shared_ptr<GeckoPolicy> policy);
  /// The connections of the configuration's service port.
  std::unique_ptr<GeckoServerSocket> GetServerSocket();
  /// The connections of `port` at G.
  std::unique_ptr<GeckoServerSocket> GetServerSocket(uint16_t port);
  /// Takes part in the replica network (mirroring, recovery) again.
  void JoinReplicaNetwork();
  /// Leaves the replica network; connections are served on.
  void LeaveReplicaNetwork();
  /// The split handoff variant (the donor keeps sending until the acceptor
  /// is ready) on or off.
  void SetSplitHandoff(bool split);
  /// This node's own address.
  in6_addr LocalAddress() const;
  /// G, the address clients see.
  in6_addr GlobalAddress() const;
  /// Stops the node and closes its server sockets. Again: nothing.
  void Close();

  struct Impl;

 private:
  const Impl& Get() const;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gecko
