// What the C++ half shares: Rust errors as C++ exceptions, addresses
// between C++ and the bridge's types. Internal (not installed).
#pragma once

#include <netinet/in.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

#include "gecko-cpp/src/lib.rs.h"
#include "gecko/gecko.hpp"

namespace gecko {
namespace convert {


/// A Rust error as src/error.rs encodes it: kind, errno, message.
struct Failure {
  std::string kind;
  int errno_value = 0;
  std::string message;
};

inline Failure Parse(const rust::Error& e) {
  std::string_view what = e.what();
  auto a = what.find('\x1f');
  auto b = a == std::string_view::npos ? a : what.find('\x1f', a + 1);
  if (b == std::string_view::npos) {
    return {"other", 0, std::string(what)};
  }
  return {std::string(what.substr(0, a)), std::atoi(std::string(what.substr(a + 1, b - a - 1)).c_str()),
          std::string(what.substr(b + 1))};
}

/// The C++ exception of a Rust error: the binding's one mapping.
[[noreturn]] inline void Throw(const Failure& f) {
  const std::string& k = f.kind;
  if (k == "config") throw ConfigError(f.message);
  if (k == "node") throw NodeError(f.message);
  if (k == "handoff") throw HandoffError(f.message);
  if (k == "moved") throw MovedError(f.message);
  if (k == "closed") throw ClosedError(f.message);
  if (k == "port-in-use") throw PortInUseError(f.message);
  if (k == "usage") throw UsageError(f.message);
  if (k == "invalid-argument") throw std::invalid_argument(f.message);
  if (k == "timeout") throw std::system_error(f.errno_value ? f.errno_value : ETIMEDOUT, std::generic_category(), f.message);
  if (k == "interrupted") throw std::system_error(EINTR, std::generic_category(), f.message);
  if (k == "io" && f.errno_value != 0) throw std::system_error(f.errno_value, std::generic_category(), f.message);
  throw Error(f.message);
}

/// Runs a call into Rust; its error as the C++ exception it maps to.
template <class F>
auto Call(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const rust::Error& e) {
    Throw(Parse(e));
  }
}

inline rust::Slice<const uint8_t> Bytes(const in6_addr& a) { return {a.s6_addr, sizeof a.s6_addr}; }

inline in6_addr In6(const ffi::Address& a) {
  in6_addr out{};
  std::memcpy(out.s6_addr, a.octets.data(), sizeof out.s6_addr);
  return out;
}

inline ffi::Address ToAddress(const in6_addr& a) {
  ffi::Address out{};
  std::memcpy(out.octets.data(), a.s6_addr, sizeof a.s6_addr);
  return out;
}

}  // namespace convert
}  // namespace gecko
