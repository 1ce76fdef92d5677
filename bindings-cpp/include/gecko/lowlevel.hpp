// The seed's low-level API (its section 3), for the few who build their own
// handoff protocol on Gecko's Mobile IPv6 signalling. Most servers want
// gecko/gecko.hpp instead; a program uses one or the other.
//
// The seed's functions took G's address and returned an int status. Here a
// gecko::lowlevel::Node carries what they shared (G, the configuration, the
// sockets), each function takes it first, and a failure is an exception
// (gecko::NodeError for the signalling, gecko::ConfigError for the
// configuration, std::invalid_argument for an argument) instead of a status.
//
//   gecko::lowlevel::Node contact(node1, "gecko.toml");
//   gecko::lowlevel::mip6_addr_active(contact);        // G here, registered
//   ...
//   gecko::lowlevel::Node other(node2, "gecko.toml");  // in another process
//   gecko::lowlevel::mip6_addr_passive(other);
//   gecko::lowlevel::mip6_handoff_start(other, client, mark);  // the client's traffic now here
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "gecko/gecko.hpp"

namespace gecko {
namespace lowlevel {

/// One TCP connection, for a per-connection (RFC 6089 flow) binding.
struct Flow {
  /// The client's address.
  in6_addr client{};
  /// The client's port.
  uint16_t client_port = 0;
  /// G.
  in6_addr server{};
  /// The port served at G.
  uint16_t server_port = 0;
};

/// A server node's signalling: its Mobility Header socket, the peer channel
/// to the other nodes, its metrics. Movable, not copyable; the destructor
/// stops it (a home registration is then left to expire).
class Node {
 public:
  /// Starts the signalling of the node whose address is `local_address` in
  /// the configuration file `config_filename`. G is not held yet.
  Node(const in6_addr& local_address, const std::string& config_filename);
  ~Node();
  Node(Node&&) noexcept;
  Node& operator=(Node&&) noexcept;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  /// This node's own (care-of) address.
  in6_addr CareOf() const;

  struct Impl;

 private:
  friend const Impl& Get(const Node&);
  std::unique_ptr<Impl> impl_;
};

/// Puts G on this node (no duplicate address detection), so that traffic
/// for G reaching it is taken.
void mip6_addr_passive(Node& node);

/// G on this node, and this node registered at the home agent as G's
/// contact node (RFC 4285-authenticated, kept fresh while `node` lives).
void mip6_addr_active(Node& node);

/// Deregisters this node at the home agent.
void mip6_addr_inactive(Node& node);

/// The last Binding Update sequence number this node sent `client`, to give
/// the node taking a connection over; empty if it sent none.
std::optional<uint16_t> mip6_handoff_mark(Node& node, const in6_addr& client);

/// Return routability with `client`, then the Binding Update that points
/// `flow` (nullptr: every connection of the client) at this node, numbered
/// after `donor_seq` (the donor's mip6_handoff_mark). Returns once the client
/// acknowledged: its traffic then comes here.
void mip6_handoff_start(Node& node, const in6_addr& client, std::optional<uint16_t> donor_seq,
                        const Flow* flow = nullptr);

/// The split form's first half: return routability only (the slow part,
/// while the donor still serves).
void mip6_handoff_prepare(Node& node, const in6_addr& client);

/// The split form's second half: the Binding Update.
void mip6_handoff_finish(Node& node, const in6_addr& client, std::optional<uint16_t> donor_seq,
                         const Flow* flow = nullptr);

/// Removes this node's binding of `flow` (nullptr: every binding of G) at
/// `client`: its traffic takes the home route to the contact node again.
void mip6_handoff_clear(Node& node, const in6_addr& client, const Flow* flow = nullptr);

/// True while this node keeps a binding of `flow` (nullptr: the client's)
/// at `client` fresh.
bool mip6_holds_binding(const Node& node, const in6_addr& client, const Flow* flow = nullptr);

}  // namespace lowlevel
}  // namespace gecko
