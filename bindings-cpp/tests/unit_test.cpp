// Unit tests without root: policies (shipped, by name, written in C++ and
// asked from the library's threads, throwing), configuration errors naming
// file, line and field, and argument misuse.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

#include "gecko/gecko.hpp"
#include "gecko/lowlevel.hpp"

namespace {

in6_addr Addr(const char* text) {
  in6_addr a{};
  EXPECT_EQ(inet_pton(AF_INET6, text, &a), 1) << text;
  return a;
}

std::string Text(const in6_addr& a) {
  char buf[INET6_ADDRSTRLEN];
  return inet_ntop(AF_INET6, &a, buf, sizeof buf);
}

gecko::ClientInfo ThreeNodes() {
  gecko::ClientInfo c;
  c.address = Addr("2001:db8:2:1::2");
  c.port = 40000;
  c.local = Addr("2001:db8:1:1::2");
  for (const char* n : {"2001:db8:1:1::2", "2001:db8:1:2::2", "2001:db8:1:3::2"}) {
    gecko::NodeInfo info;
    info.address = Addr(n);
    info.available = true;
    c.nodes.push_back(info);
  }
  return c;
}

TEST(Policies, NamesAndByNameMatchTheLibrary) {
  EXPECT_EQ(gecko::PolicyNames(), (std::vector<std::string>{"random", "round-robin", "least-connections", "proximity"}));
  auto rr = gecko::PolicyByName("round-robin");
  ASSERT_NE(dynamic_cast<gecko::RoundRobinPolicy*>(rr.get()), nullptr);
  EXPECT_EQ(dynamic_cast<gecko::ShippedPolicy&>(*rr).Name(), "round-robin");
  try {
    gecko::PolicyByName("nearest");
    FAIL() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("unknown policy `nearest` (known: random, "), std::string::npos) << e.what();
  }
}

TEST(Policies, ShippedOnesDecideInTheLibrary) {
  gecko::RoundRobinPolicy rr;
  gecko::ClientInfo c = ThreeNodes();
  std::vector<std::string> picks;
  for (int i = 0; i < 4; i++) picks.push_back(Text(rr.SelectTarget(c).value()));
  EXPECT_EQ(picks, (std::vector<std::string>{"2001:db8:1:1::2", "2001:db8:1:2::2", "2001:db8:1:3::2", "2001:db8:1:1::2"}));
  c.nodes[1].available = false;
  c.nodes[2].available = false;
  gecko::LeastConnectionsPolicy least;
  EXPECT_EQ(Text(least.SelectTarget(c).value()), "2001:db8:1:1::2");
  EXPECT_EQ(c.Available().size(), 1u);
}

/// Always node3, counting its calls and the threads they came from.
class Third : public gecko::GeckoPolicy {
 public:
  std::optional<in6_addr> SelectTarget(const gecko::ClientInfo& client) override {
    calls++;
    on_caller_thread = on_caller_thread || std::this_thread::get_id() == caller;
    return client.nodes.at(2).address;
  }
  std::atomic<int> calls{0};
  std::atomic<bool> on_caller_thread{false};
  std::thread::id caller = std::this_thread::get_id();
};

TEST(Policies, ACppPolicyIsAskedFromTheLibrarysThreads) {
  auto third = std::make_shared<Third>();
  auto asked = gecko::detail::AskFromCoreThread(third, ThreeNodes(), 10);
  ASSERT_TRUE(asked.choice);
  EXPECT_EQ(Text(*asked.choice), "2001:db8:1:3::2");
  EXPECT_EQ(third->calls, 10);
  EXPECT_FALSE(third->on_caller_thread);
  EXPECT_GT(asked.per_call.count(), 0);
  // A shipped one is asked natively.
  auto rr = std::make_shared<gecko::RoundRobinPolicy>();
  EXPECT_EQ(Text(*gecko::detail::AskFromCoreThread(rr, ThreeNodes(), 4).choice), "2001:db8:1:1::2");
}

/// Throws what it is told to.
class Throwing : public gecko::GeckoPolicy {
 public:
  explicit Throwing(int how) : how_(how) {}
  std::optional<in6_addr> SelectTarget(const gecko::ClientInfo&) override {
    if (how_ == 0) throw std::runtime_error("policy failure on purpose");
    throw 42;  // not a std::exception
  }

 private:
  int how_;
};

TEST(Policies, AThrowingPolicyKeepsTheConnectionHereAndIsLogged) {
  gecko::InitLogging("info");
  testing::internal::CaptureStderr();
  auto a = gecko::detail::AskFromCoreThread(std::make_shared<Throwing>(0), ThreeNodes(), 1);
  auto b = gecko::detail::AskFromCoreThread(std::make_shared<Throwing>(1), ThreeNodes(), 1);
  std::string log = testing::internal::GetCapturedStderr();
  EXPECT_FALSE(a.choice);
  EXPECT_FALSE(b.choice);
  EXPECT_NE(log.find("std::runtime_error: policy failure on purpose"), std::string::npos) << log;
  EXPECT_NE(log.find("Throwing"), std::string::npos) << log;
  EXPECT_NE(log.find("an exception that is not a std::exception"), std::string::npos) << log;
}

TEST(Errors, ABadConfigurationNamesFileLineAndField) {
  char path[] = "/tmp/gecko-cpp-unit-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  {
    std::ofstream f(path);
    f << "global_address = \"2001:db8::1\"\nservice_port = \"seven\"\n";
  }
  try {
    gecko::GeckoFramework fw(Addr("2001:db8:1:1::2"), path, "lo");
    FAIL() << "started";
  } catch (const gecko::ConfigError& e) {
    std::string what = e.what();
    EXPECT_NE(what.find(std::string(path) + ":2: field `service_port`"), std::string::npos) << what;
  }
  std::remove(path);
  EXPECT_THROW(gecko::GeckoFramework(Addr("2001:db8:1:1::2"), "/nonexistent/gecko.toml", "lo"), gecko::Error);
}

TEST(LowLevel, ABadConfigurationOrAStrangerIsAConfigError) {
  EXPECT_THROW(gecko::lowlevel::Node(Addr("2001:db8:1:1::2"), "/nonexistent/gecko.toml"), gecko::ConfigError);
  // The example cluster's configuration, with an address none of its nodes has.
  try {
    gecko::lowlevel::Node n(Addr("2001:db8:99::1"), GECKO_EXAMPLE_CONFIG);
    FAIL() << "started";
  } catch (const gecko::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("2001:db8:99::1 is none of the configuration's nodes"), std::string::npos)
        << e.what();
  }
}

TEST(Errors, BadArgumentsAreInvalidArgument) {
  EXPECT_THROW(gecko::InitLogging("gecko=["), std::invalid_argument);
  EXPECT_THROW(gecko::detail::AskFromCoreThread(nullptr, ThreeNodes(), 1), std::invalid_argument);
  EXPECT_THROW(gecko::PolicyByName(""), std::invalid_argument);
}

TEST(Objects, NoNativeObjectOutlivesItsOwner) {
  std::size_t before = gecko::LiveNativeObjects();
  {
    gecko::RandomPolicy p;
    EXPECT_EQ(gecko::LiveNativeObjects(), before + 1);
  }
  EXPECT_EQ(gecko::LiveNativeObjects(), before);
}

}  // namespace
