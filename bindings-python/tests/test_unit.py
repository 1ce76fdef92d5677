"""Tests that need no root and no lab: the package, errors, configuration
errors, policies through the same bridge the framework uses, type checks."""

import ipaddress
import subprocess
import sys
import textwrap

import pytest

import gecko
from gecko._gecko import _call_policy

N1, N2, N3 = "2001:db8:1:1::2", "2001:db8:1:2::2", "2001:db8:1:3::2"


def client(*nodes):
    return gecko.ClientInfo("2001:db8:2:1::2", 40000, N1, list(nodes))


def three(available=(True, True, True), conns=(0, 0, 0), rtt=(None, None, None)):
    return client(*(gecko.NodeInfo(a, c, r, av)
                    for a, c, r, av in zip((N1, N2, N3), conns, rtt, available)))


def test_package_exports_and_error_hierarchy():
    for name in gecko.__all__:
        assert hasattr(gecko, name), name
    for sub in (gecko.ConfigError, gecko.NodeError, gecko.HandoffError, gecko.MovedError,
                gecko.ClosedError, gecko.PortInUseError):
        assert issubclass(sub, gecko.GeckoError)
    assert issubclass(gecko.GeckoError, Exception)
    assert gecko.HandoffError.__module__ == "gecko"
    assert set(gecko.POLICY_NAMES) == {"random", "round-robin", "least-connections", "proximity"}


def test_stubs_and_marker_ship_with_the_package():
    from importlib import resources
    files = resources.files("gecko")
    assert files.joinpath("py.typed").is_file()
    assert files.joinpath("_gecko.pyi").is_file()


def test_client_info_is_read_only_and_typed():
    c = three(conns=(5, 2, 1), rtt=(0.002, None, 0.001), available=(True, True, False))
    assert (c.address, c.port, c.local) == ("2001:db8:2:1::2", 40000, N1)
    assert [n.address for n in c.nodes] == [N1, N2, N3]
    assert c.nodes[0].rtt == pytest.approx(0.002) and c.nodes[1].rtt is None
    assert [n.address for n in c.available()] == [N1, N2]
    with pytest.raises(AttributeError):
        c.port = 1
    with pytest.raises(AttributeError):
        c.nodes[0].connections = 9
    # Addresses: str or IPv6Address, nothing else.
    assert gecko.NodeInfo(ipaddress.IPv6Address(N2)).address == N2
    with pytest.raises(TypeError):
        gecko.NodeInfo(12345)
    with pytest.raises(ValueError, match="not an IPv6 address"):
        gecko.NodeInfo("10.0.0.1")
    with pytest.raises(ValueError):
        gecko.NodeInfo(N1, rtt=-1.0)


def test_shipped_policies_decide_in_rust():
    rr = gecko.RoundRobinPolicy()
    assert isinstance(rr, gecko.GeckoPolicy)
    c = three()
    assert [rr.select_target(c) for _ in range(4)] == [N1, N2, N3, N1]
    assert gecko.LeastConnectionsPolicy().select_target(three(conns=(5, 2, 3))) == N2
    assert gecko.ProximityPolicy().select_target(three(rtt=(0.009, None, 0.001))) == N3
    seen = {gecko.RandomPolicy().select_target(three(available=(True, False, True)))
            for _ in range(100)}
    assert seen == {N1, N3}
    assert gecko.RandomPolicy().select_target(client(gecko.NodeInfo(N1, available=False))) is None
    assert isinstance(gecko.policy_by_name("round-robin"), gecko.RoundRobinPolicy)
    with pytest.raises(ValueError, match="unknown policy"):
        gecko.policy_by_name("nearest")
    # Through the bridge (from a thread of its own, as the framework calls it).
    assert _call_policy(gecko.ProximityPolicy(), three(rtt=(0.009, 0.002, None)))[0] == N2


def test_python_subclass_is_called_through_the_bridge():
    class Pick(gecko.GeckoPolicy):
        def __init__(self, how):
            self.how, self.calls = how, 0

        def select_target(self, client):
            self.calls += 1
            return self.how(client)

    p = Pick(lambda c: c.nodes[2].address)
    assert _call_policy(p, three(), 10)[0] == N3 and p.calls == 10
    assert _call_policy(Pick(lambda c: ipaddress.IPv6Address(N2)), three())[0] == N2
    assert _call_policy(Pick(lambda c: c.nodes[1]), three())[0] == N2
    assert _call_policy(Pick(lambda c: None), three())[0] is None
    # A subclass of a shipped policy that overrides nothing keeps its decisions.
    class MyRR(gecko.RoundRobinPolicy):
        pass
    assert _call_policy(MyRR(), three(), 4)[0] == N1  # N1, N2, N3, N1
    # Duck typing: any object with select_target.
    class Duck:
        def select_target(self, client):
            return N2
    assert _call_policy(Duck(), three())[0] == N2
    with pytest.raises(TypeError, match="select_target"):
        _call_policy(object(), three())


def run_isolated(code):
    """Runs `code` in a fresh interpreter (Gecko's log goes to its stderr)."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=60)


def test_a_raising_policy_counts_as_none_and_its_traceback_is_logged():
    r = run_isolated("""
        import gecko
        from gecko._gecko import _call_policy
        gecko.init_logging()
        class Boom(gecko.GeckoPolicy):
            def select_target(self, client):
                return self.helper()
            def helper(self):
                raise KeyError("no such node, on purpose")
        class Wrong(gecko.GeckoPolicy):
            def select_target(self, client):
                return 42
        c = gecko.ClientInfo("2001:db8:2:1::2", 1, "2001:db8:1:1::2",
                             [gecko.NodeInfo("2001:db8:1:1::2")])
        print(_call_policy(Boom(), c)[0], _call_policy(Wrong(), c)[0])
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["None", "None"]
    log = r.stderr
    assert "policy Boom: select_target raised; keeping the connection on this node" in log
    assert "Traceback (most recent call last)" in log
    assert "in helper" in log and "KeyError: 'no such node, on purpose'" in log
    assert "policy Wrong: select_target returned no address" in log
    assert "TypeError" in log


def test_a_bad_configuration_raises_config_error_naming_line_and_field(tmp_path):
    bad = tmp_path / "gecko.toml"
    bad.write_text(textwrap.dedent("""\
        global_address = "2001:db8:ffff::1"
        home_prefix = "2001:db8:ffff::/64"
        service_port = 7

        [home_agent]
        address = "2001:db8:ffff::fe"
        metrics = "[2001:db8:ffff::fe]:9100"

        [[nodes]]
        name = "node1"
        address = "2001:db8:1:1::2"
        metrics = "[2001:db8:1:1::2]:9100"

        [contact]
        node = "node9"
        backups = []

        [security]
        mn_ha_key = "00112233445566778899aabbccddeeff"
        mn_ha_spi = 256
        cluster_key = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

        [timers]
        binding_lifetime_secs = 60
        refresh_secs = 20
    """))
    with pytest.raises(gecko.ConfigError) as e:
        gecko.GeckoFramework("2001:db8:1:1::2", bad, "lo")
    msg = str(e.value)
    assert f"{bad}:15:" in msg and "contact.node" in msg and "node9" in msg, msg

    with pytest.raises(gecko.ConfigError, match="cannot read"):
        gecko.GeckoFramework("2001:db8:1:1::2", tmp_path / "absent.toml")
    good = bad.read_text().replace('node = "node9"', 'node = "node1"')
    bad.write_text(good)
    with pytest.raises(gecko.ConfigError, match="is not the address of a node"):
        gecko.GeckoFramework("2001:db8:1:1::99", bad, "lo")
    with pytest.raises(gecko.NodeError, match="no network interface"):
        gecko.GeckoFramework("2001:db8:1:1::2", bad, "nosuchif0")
    with pytest.raises(TypeError):
        gecko.GeckoFramework(1234, bad)
    with pytest.raises(TypeError):
        gecko.GeckoFramework("2001:db8:1:1::2", 3.5)
