// The C++ half of Gecko's C++ binding: the classes of gecko/gecko.hpp on
// the Rust functions of src/lib.rs (cxx). It converts types, errors and
// callbacks, nothing more.
#include "gecko/gecko.hpp"

#include <arpa/inet.h>
#include <cxxabi.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <system_error>
#include <typeinfo>
#include <utility>

#include "gecko-cpp/src/convert.hpp"
#include "gecko-cpp/src/lib.rs.h"

namespace gecko {
using namespace convert;
namespace {

sockaddr_in6 SockAddr(const ffi::SocketAddress& a) {
  sockaddr_in6 out{};
  out.sin6_family = AF_INET6;
  out.sin6_port = htons(a.port);
  out.sin6_addr = In6(a.address);
  out.sin6_scope_id = a.scope_id;
  return out;
}

StreamOffsets Offsets(const ffi::Offsets& o) { return {o.sent, o.received}; }

ClientInfo FromView(const ffi::ClientView& v) {
  ClientInfo c;
  c.address = In6(v.address);
  c.port = v.port;
  c.local = In6(v.local);
  c.nodes.reserve(v.nodes.size());
  for (const ffi::NodeView& n : v.nodes) {
    NodeInfo info;
    info.address = In6(n.address);
    info.connections = n.connections;
    if (n.rtt_ns >= 0) info.rtt = std::chrono::nanoseconds(n.rtt_ns);
    info.available = n.available;
    c.nodes.push_back(info);
  }
  return c;
}

ffi::ClientView ToView(const ClientInfo& c) {
  ffi::ClientView v{ToAddress(c.address), c.port, ToAddress(c.local), {}};
  for (const NodeInfo& n : c.nodes) {
    v.nodes.push_back(ffi::NodeView{ToAddress(n.address), n.connections, n.rtt ? n.rtt->count() : -1, n.available});
  }
  return v;
}

/// The readable name of a class, for the log.
std::string Demangled(const std::type_info& type) {
  const char* mangled = type.name();
  int status = 0;
  char* name = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  std::string out = status == 0 && name ? name : mangled;
  std::free(name);
  return out;
}

bool Same(const in6_addr& a, const in6_addr& b) { return std::memcmp(&a, &b, sizeof a) == 0; }

}  // namespace

// ---- policies

namespace ffi {

PolicyShim::PolicyShim(std::shared_ptr<GeckoPolicy> policy) : policy_(std::move(policy)) {}

Choice PolicyShim::select_target(const ClientView& view) const {
  try {
    ClientInfo client = FromView(view);
    std::optional<in6_addr> chosen = policy_->SelectTarget(client);
    if (!chosen || Same(*chosen, client.local)) return Choice{true, ToAddress(in6addr_any)};
    return Choice{false, ToAddress(*chosen)};
  } catch (const std::exception& e) {
    // cxx hands what() to the core, which logs it: with the type, as a
    // stack trace would start.
    throw std::runtime_error(Demangled(typeid(e)) + ": " + e.what());
  } catch (...) {
    throw std::runtime_error("an exception that is not a std::exception");
  }
}

void PolicyShim::notify_failed_handoff(rust::Slice<const uint8_t> target) const {
  try {
    in6_addr t{};
    std::memcpy(t.s6_addr, target.data(), std::min(target.size(), sizeof t.s6_addr));
    policy_->NotifyFailedHandoff(t);
  } catch (const std::exception& e) {
    throw std::runtime_error(Demangled(typeid(e)) + ": " + e.what());
  } catch (...) {
    throw std::runtime_error("an exception that is not a std::exception");
  }
}

}  // namespace ffi

std::vector<NodeInfo> ClientInfo::Available() const {
  std::vector<NodeInfo> out;
  for (const NodeInfo& n : nodes) {
    if (n.available) out.push_back(n);
  }
  return out;
}

struct ShippedPolicy::Native {
  rust::Box<ffi::Policy> policy;
};

ShippedPolicy::ShippedPolicy(const std::string& name)
    : name_(name), native_(new Native{Call([&] { return ffi::policy_shipped(name); })}) {}

ShippedPolicy::~ShippedPolicy() = default;

std::optional<in6_addr> ShippedPolicy::SelectTarget(const ClientInfo& client) {
  ffi::Choice c = native_->policy->select(ToView(client));
  if (c.here) return std::nullopt;
  return In6(c.address);
}

void ShippedPolicy::NotifyFailedHandoff(const in6_addr& target) { native_->policy->notify(Bytes(target)); }

const ffi::Policy& ShippedPolicy::NativeOf(const ShippedPolicy& p) { return *p.native_->policy; }

std::shared_ptr<GeckoPolicy> PolicyByName(const std::string& name) {
  if (name == "random") return std::make_shared<RandomPolicy>();
  if (name == "round-robin") return std::make_shared<RoundRobinPolicy>();
  if (name == "least-connections") return std::make_shared<LeastConnectionsPolicy>();
  if (name == "proximity") return std::make_shared<ProximityPolicy>();
  // The library's one list decides, and words the error.
  Call([&] { return ffi::policy_shipped(name); });
  throw std::invalid_argument("unknown policy `" + name + "`");
}

std::vector<std::string> PolicyNames() {
  std::vector<std::string> out;
  for (const rust::String& n : ffi::policy_names()) out.emplace_back(n);
  return out;
}

void InitLogging(const std::string& filter) {
  Call([&] { ffi::init_logging(filter); });
}

std::size_t LiveNativeObjects() { return ffi::live_handles(); }

// ---- GeckoSocket

struct GeckoSocket::Impl {
  rust::Box<ffi::Socket> socket;
  std::atomic<bool> blocking{true};
};

GeckoSocket::GeckoSocket(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GeckoSocket::~GeckoSocket() = default;
GeckoSocket::GeckoSocket(GeckoSocket&&) noexcept = default;
GeckoSocket& GeckoSocket::operator=(GeckoSocket&&) noexcept = default;

const GeckoSocket::Impl& GeckoSocket::Get() const {
  if (!impl_) throw ClosedError("this GeckoSocket was moved from");
  return *impl_;
}

namespace {
/// A read or write's count; a would-block of a non-blocking socket is -1
/// with errno EAGAIN, as a socket's.
template <class F>
ssize_t Count(F&& io) {
  try {
    return static_cast<ssize_t>(io());
  } catch (const rust::Error& e) {
    Failure f = Parse(e);
    if (f.kind == "io" && (f.errno_value == EAGAIN || f.errno_value == EWOULDBLOCK)) {
      errno = EAGAIN;
      return -1;
    }
    Throw(f);
  }
}
}  // namespace

ssize_t GeckoSocket::Read(void* buf, size_t nbytes) {
  const Impl& s = Get();
  if (nbytes == 0) return 0;
  if (buf == nullptr) throw std::invalid_argument("Read: buf is null");
  return Count([&] { return s.socket->read(rust::Slice<uint8_t>(static_cast<uint8_t*>(buf), nbytes)); });
}

ssize_t GeckoSocket::Write(const void* buf, size_t nbytes) {
  const Impl& s = Get();
  if (nbytes == 0) return 0;
  if (buf == nullptr) throw std::invalid_argument("Write: buf is null");
  return Count([&] { return s.socket->write(rust::Slice<const uint8_t>(static_cast<const uint8_t*>(buf), nbytes)); });
}

void GeckoSocket::WriteAll(const void* buf, size_t nbytes) {
  if (!IsBlocking()) throw UsageError("WriteAll needs a blocking socket");
  const auto* p = static_cast<const uint8_t*>(buf);
  while (nbytes > 0) {
    ssize_t n = Write(p, nbytes);
    if (n <= 0) throw std::system_error(EIO, std::generic_category(), "the connection took no bytes");
    p += n;
    nbytes -= static_cast<size_t>(n);
  }
}

void GeckoSocket::SetBlocking() {
  Call([&] { Get().socket->set_nonblocking(false); });
  impl_->blocking = true;
}

void GeckoSocket::SetNonBlocking() {
  Call([&] { Get().socket->set_nonblocking(true); });
  impl_->blocking = false;
}

bool GeckoSocket::IsBlocking() const { return Get().blocking; }

sockaddr_in6 GeckoSocket::GetPeerName() const {
  return SockAddr(Call([&] { return Get().socket->peer(); }));
}

sockaddr_in6 GeckoSocket::GetSockName() const {
  return SockAddr(Call([&] { return Get().socket->local(); }));
}

bool GeckoSocket::Handoff(bool nonblocking) {
  return Call([&] { return Get().socket->handoff(rust::Slice<const uint8_t>(), nonblocking); });
}

bool GeckoSocket::Handoff(const in6_addr& target, bool nonblocking) {
  return Call([&] { return Get().socket->handoff(Bytes(target), nonblocking); });
}

void GeckoSocket::Close() {
  if (impl_) impl_->socket->close();
}

void GeckoSocket::Reset() {
  Call([&] { Get().socket->reset(); });
}

StreamOffsets GeckoSocket::Position() const {
  return Offsets(Call([&] { return Get().socket->position(); }));
}

std::optional<StreamOffsets> GeckoSocket::Recovered() const {
  ffi::MaybeOffsets r = Get().socket->recovered();
  if (!r.some) return std::nullopt;
  return Offsets(r.offsets);
}

bool GeckoSocket::HandedIn() const { return Get().socket->handed_in(); }

bool GeckoSocket::IsMoved() const {
  return Call([&] { return Get().socket->is_moved(); });
}

int GeckoSocket::Fd() const { return Get().socket->fd(); }

// ---- GeckoServerSocket

struct GeckoServerSocket::Impl {
  rust::Box<ffi::ServerSocket> server;
};

GeckoServerSocket::GeckoServerSocket(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GeckoServerSocket::~GeckoServerSocket() = default;
GeckoServerSocket::GeckoServerSocket(GeckoServerSocket&&) noexcept = default;
GeckoServerSocket& GeckoServerSocket::operator=(GeckoServerSocket&&) noexcept = default;

const GeckoServerSocket::Impl& GeckoServerSocket::Get() const {
  if (!impl_) throw ClosedError("this GeckoServerSocket was moved from");
  return *impl_;
}

std::unique_ptr<GeckoSocket> GeckoServerSocket::Accept() {
  rust::Box<ffi::Socket> s = Call([&] { return Get().server->accept(-1); });
  return std::unique_ptr<GeckoSocket>(new GeckoSocket(std::unique_ptr<GeckoSocket::Impl>(
      new GeckoSocket::Impl{std::move(s), {true}})));
}

std::unique_ptr<GeckoSocket> GeckoServerSocket::Accept(std::chrono::milliseconds timeout) {
  if (timeout.count() < 0) throw std::invalid_argument("Accept: the timeout can't be negative");
  const Impl& s = Get();
  try {
    rust::Box<ffi::Socket> got = s.server->accept(timeout.count());
    return std::unique_ptr<GeckoSocket>(new GeckoSocket(std::unique_ptr<GeckoSocket::Impl>(
        new GeckoSocket::Impl{std::move(got), {true}})));
  } catch (const rust::Error& e) {
    Failure f = Parse(e);
    if (f.kind == "timeout") return nullptr;
    Throw(f);
  }
}

void GeckoServerSocket::Close() {
  if (impl_) impl_->server->close();
}

uint16_t GeckoServerSocket::Port() const { return Get().server->port(); }

// ---- GeckoFramework

struct GeckoFramework::Impl {
  rust::Box<ffi::Framework> framework;
};

GeckoFramework::GeckoFramework(const in6_addr& local_address, const std::string& config_filename,
                               const std::string& network_interface)
    : impl_(new Impl{Call([&] {
        return ffi::framework_new(Bytes(local_address), config_filename, network_interface);
      })}) {}

// Destroying it stops the node, as Close() does (dropping the handle alone
// would leave its server sockets serving).
GeckoFramework::~GeckoFramework() { Close(); }
GeckoFramework::GeckoFramework(GeckoFramework&&) noexcept = default;
GeckoFramework& GeckoFramework::operator=(GeckoFramework&& other) noexcept {
  if (this != &other) {
    Close();
    impl_ = std::move(other.impl_);
  }
  return *this;
}

const GeckoFramework::Impl& GeckoFramework::Get() const {
  if (!impl_) throw ClosedError("this GeckoFramework was moved from");
  return *impl_;
}

/// `policy` as the core calls it: a shipped one's own native half (no C++
/// call per connection), else the C++ object behind the adapter.
template <class F>
auto WithCore(const std::shared_ptr<GeckoPolicy>& policy, F&& use) {
  if (auto* shipped = dynamic_cast<ShippedPolicy*>(policy.get())) {
    return use(ShippedPolicy::NativeOf(*shipped));
  }
  rust::Box<ffi::Policy> foreign = ffi::policy_foreign(std::make_shared<ffi::PolicyShim>(policy), Demangled(typeid(*policy)));
  return use(*foreign);
}

void GeckoFramework::SetPolicy(std::shared_ptr<GeckoPolicy> policy) {
  if (!policy) throw std::invalid_argument("SetPolicy: the policy is null");
  const Impl& f = Get();
  WithCore(policy, [&](const ffi::Policy& p) { Call([&] { f.framework->set_policy(p); }); });
}

detail::Asked detail::AskFromCoreThread(const std::shared_ptr<GeckoPolicy>& policy, const ClientInfo& client,
                                        unsigned calls) {
  if (!policy) throw std::invalid_argument("AskFromCoreThread: the policy is null");
  ffi::ClientView view = ToView(client);
  ffi::Asked a = WithCore(policy, [&](const ffi::Policy& p) { return p.ask_from_core_thread(view, calls); });
  detail::Asked out;
  if (!a.choice.here) out.choice = In6(a.choice.address);
  out.per_call = std::chrono::nanoseconds(a.nanos_per_call);
  return out;
}

std::unique_ptr<GeckoServerSocket> GeckoFramework::GetServerSocket() {
  rust::Box<ffi::ServerSocket> s = Call([&] { return Get().framework->server_socket(-1); });
  return std::unique_ptr<GeckoServerSocket>(
      new GeckoServerSocket(std::unique_ptr<GeckoServerSocket::Impl>(new GeckoServerSocket::Impl{std::move(s)})));
}

std::unique_ptr<GeckoServerSocket> GeckoFramework::GetServerSocket(uint16_t port) {
  if (port == 0) throw std::invalid_argument("GetServerSocket: port 0");
  rust::Box<ffi::ServerSocket> s = Call([&] { return Get().framework->server_socket(port); });
  return std::unique_ptr<GeckoServerSocket>(
      new GeckoServerSocket(std::unique_ptr<GeckoServerSocket::Impl>(new GeckoServerSocket::Impl{std::move(s)})));
}

void GeckoFramework::JoinReplicaNetwork() {
  Call([&] { Get().framework->join_replica_network(); });
}

void GeckoFramework::LeaveReplicaNetwork() {
  Call([&] { Get().framework->leave_replica_network(); });
}

void GeckoFramework::SetSplitHandoff(bool split) {
  Call([&] { Get().framework->set_split_handoff(split); });
}

in6_addr GeckoFramework::LocalAddress() const {
  return In6(Call([&] { return Get().framework->local_address(); }));
}

in6_addr GeckoFramework::GlobalAddress() const {
  return In6(Call([&] { return Get().framework->global_address(); }));
}

void GeckoFramework::Close() {
  if (impl_) impl_->framework->close();
}

}  // namespace gecko
