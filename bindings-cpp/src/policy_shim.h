// The C++ side of a policy written in C++, as the Rust core calls it (the
// bridge's ForeignPolicy, src/policy.rs). Not part of the public API.
#pragma once

#include <cstdint>
#include <memory>

#include "rust/cxx.h"

namespace gecko {
class GeckoPolicy;
namespace ffi {

struct ClientView;
struct Choice;

/// A user's policy, called from the core's threads. Every exception stays
/// here: it becomes an error the core logs, and the connection stays put.
class PolicyShim {
 public:
  explicit PolicyShim(std::shared_ptr<GeckoPolicy> policy);
  Choice select_target(const ClientView& client) const;
  void notify_failed_handoff(rust::Slice<const uint8_t> target) const;

 private:
  std::shared_ptr<GeckoPolicy> policy_;
};

}  // namespace ffi
}  // namespace gecko
