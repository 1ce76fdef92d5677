// gecko/lowlevel.hpp on the Rust functions of src/low_level.rs (cxx): it
// converts types and errors, nothing more.
#include "gecko/lowlevel.hpp"

#include <utility>

#include "gecko-cpp/src/convert.hpp"
#include "gecko-cpp/src/lib.rs.h"

namespace gecko {
namespace lowlevel {

using convert::Bytes;
using convert::Call;
using convert::In6;
using convert::ToAddress;

struct Node::Impl {
  rust::Box<ffi::LowLevelNode> node;
};

const Node::Impl& Get(const Node& n) {
  if (!n.impl_) throw ClosedError("this gecko::lowlevel::Node was moved from");
  return *n.impl_;
}

Node::Node(const in6_addr& local_address, const std::string& config_filename)
    : impl_(new Impl{Call([&] { return ffi::low_level_node_start(Bytes(local_address), config_filename); })}) {}

Node::~Node() = default;
Node::Node(Node&&) noexcept = default;
Node& Node::operator=(Node&&) noexcept = default;

in6_addr Node::CareOf() const { return In6(Get(*this).node->care_of()); }

namespace {
/// `flow` as the Rust side takes it: no element (the client's every
/// connection) or one.
struct FlowArg {
  explicit FlowArg(const Flow* f) {
    if (f) {
      one = ffi::Flow{ToAddress(f->client), f->client_port, ToAddress(f->server), f->server_port};
      n = 1;
    }
  }
  rust::Slice<const ffi::Flow> Slice() const { return {&one, n}; }
  ffi::Flow one{};
  std::size_t n = 0;
};

int Seq(std::optional<uint16_t> s) { return s ? static_cast<int>(*s) : -1; }
}  // namespace

void mip6_addr_passive(Node& node) {
  Call([&] { Get(node).node->addr_passive(); });
}

void mip6_addr_active(Node& node) {
  Call([&] { Get(node).node->addr_active(); });
}

void mip6_addr_inactive(Node& node) {
  Call([&] { Get(node).node->addr_inactive(); });
}

std::optional<uint16_t> mip6_handoff_mark(Node& node, const in6_addr& client) {
  int seq = Call([&] { return Get(node).node->handoff_mark(Bytes(client)); });
  if (seq < 0) return std::nullopt;
  return static_cast<uint16_t>(seq);
}

void mip6_handoff_start(Node& node, const in6_addr& client, std::optional<uint16_t> donor_seq, const Flow* flow) {
  FlowArg f(flow);
  Call([&] { Get(node).node->handoff_start(Bytes(client), f.Slice(), Seq(donor_seq)); });
}

void mip6_handoff_prepare(Node& node, const in6_addr& client) {
  Call([&] { Get(node).node->handoff_prepare(Bytes(client)); });
}

void mip6_handoff_finish(Node& node, const in6_addr& client, std::optional<uint16_t> donor_seq, const Flow* flow) {
  FlowArg f(flow);
  Call([&] { Get(node).node->handoff_finish(Bytes(client), f.Slice(), Seq(donor_seq)); });
}

void mip6_handoff_clear(Node& node, const in6_addr& client, const Flow* flow) {
  FlowArg f(flow);
  Call([&] { Get(node).node->handoff_clear(Bytes(client), f.Slice()); });
}

bool mip6_holds_binding(const Node& node, const in6_addr& client, const Flow* flow) {
  FlowArg f(flow);
  return Call([&] { return Get(node).node->holds_binding(Bytes(client), f.Slice()); });
}

}  // namespace lowlevel
}  // namespace gecko
