"""action.d/qmail-f2b-enforce.py's choice of what to cut, without a server: which sessions a ban
ends (addresses, networks, both families, IPv4 clients of dual-stack sockets) and which it never
touches (this host's own addresses, loopback, ignoreip). tests/e2e/test_lapse.py cuts for real."""

import importlib.util
import ipaddress
import sys
import time
import types

import pytest

from tests.support.install import REPO

ACTION = REPO / "action.d" / "qmail-f2b-enforce.py"


class ActionBase:
    def __init__(self, jail, name):
        self._jail, self._name = jail, name
        self._logSys = types.SimpleNamespace(info=print, warning=print, debug=print, error=print,
                                             exception=print, notice=print)


@pytest.fixture(scope="module")
def enforce():
    """The action's module, over a stand-in for fail2ban's action module (not imported here)."""
    stand_in = types.ModuleType("fail2ban.server.action")
    stand_in.ActionBase, stand_in.CommandAction = ActionBase, type("CommandAction", (ActionBase,), {})
    saved = {name: sys.modules.get(name) for name in ("fail2ban", "fail2ban.server", "fail2ban.server.action")}
    sys.modules.update({"fail2ban": types.ModuleType("fail2ban"), "fail2ban.server": types.ModuleType("x"),
                        "fail2ban.server.action": stand_in})
    try:
        spec = importlib.util.spec_from_file_location("qmail_f2b_enforce", ACTION)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def test_proc_addresses_are_read_in_host_order(enforce):
    assert str(enforce.proc_address("0100007F")) == "127.0.0.1"
    assert enforce.proc_address("0000000000000000FFFF00000100007F") == ipaddress.ip_address("::ffff:127.0.0.1")
    assert str(enforce.proc_address("B80D0120000000000000000066000000")) == "2001:db8::66"


def cut(enforce, monkeypatch, bans, sessions, ignored=()):
    """The ss and conntrack commands a cut of bans runs, with these (local, peer) sessions open."""
    address = ipaddress.ip_address
    monkeypatch.setattr(enforce, "open_sessions", lambda: [(address(local), address(peer))
                                                           for local, peer in sessions])
    commands = []
    monkeypatch.setattr(enforce, "run", lambda argv: (commands.append(argv), (0, ""))[1])
    ignore = {address(text) for text in ignored}
    jail = types.SimpleNamespace(name="custom", filter=types.SimpleNamespace(
        inIgnoreIPList=lambda ip, log_ignore=True: address(str(ip)) in ignore))
    action = enforce.Enforce.__new__(enforce.Enforce)
    ActionBase.__init__(action, jail, "qmail-f2b-enforce")
    sys.modules["fail2ban.server.ipdns"] = types.SimpleNamespace(IPAddr=str)
    try:
        action.cut_sessions({ipaddress.ip_network(ban, strict=False) for ban in bans})
    finally:
        sys.modules.pop("fail2ban.server.ipdns", None)
    return commands


SERVER = "203.0.113.1"


def test_a_ban_cuts_the_address_over_both_families_and_dual_stack_sockets(enforce, monkeypatch):
    commands = cut(enforce, monkeypatch, ["203.0.113.66", "2001:db8::66"],
                   [(SERVER, "203.0.113.66"), ("::ffff:" + SERVER, "::ffff:203.0.113.66"),
                    ("2001:db8::1", "2001:db8::66"), (SERVER, "203.0.113.67")])
    assert commands[0] == ["ss", "-K", "-t", "-n", "(", "dst", "[2001:db8::66]", "or", "dst", "203.0.113.66",
                           "or", "dst", "[::ffff:203.0.113.66]", ")"]
    assert commands[1:] == [["conntrack", "-D", "-s", "2001:db8::66"], ["conntrack", "-D", "-s", "203.0.113.66"]]


def test_a_network_ban_spares_this_host_loopback_and_ignoreip(enforce, monkeypatch):
    commands = cut(enforce, monkeypatch, ["203.0.113.0/24", "127.0.0.0/8", "198.51.100.0/24"],
                   [(SERVER, "203.0.113.66"), (SERVER, SERVER), ("127.0.0.1", "127.0.0.1"),
                    (SERVER, "198.51.100.7"), (SERVER, "198.51.100.8")], ignored=["198.51.100.7"])
    assert commands == [["ss", "-K", "-t", "-n", "(", "dst", "198.51.100.8", "or", "dst", "203.0.113.66", ")"],
                        ["conntrack", "-D", "-s", "198.51.100.8"], ["conntrack", "-D", "-s", "203.0.113.66"]]


def test_no_session_of_the_banned_address_runs_nothing(enforce, monkeypatch):
    assert cut(enforce, monkeypatch, ["192.0.2.0/24"], [(SERVER, "203.0.113.66")]) == []


def test_a_ban_is_cut_at_once_and_again_a_moment_later_and_stop_ends_the_thread(enforce, monkeypatch):
    jail = types.SimpleNamespace(name="custom")
    action = enforce.Enforce(jail, "qmail-f2b-enforce")
    cuts = []
    monkeypatch.setattr(action, "cut_sessions", lambda networks: cuts.append((time.monotonic(), networks)))
    monkeypatch.setattr(action, "_watch_command_actions", lambda: None)
    action.start()
    try:
        banned_at = time.monotonic()
        action.ban({"ip": "203.0.113.66"})
        deadline = time.monotonic() + 3
        while len(cuts) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        action.stop()
    assert not action._thread.is_alive()
    network = {ipaddress.ip_network("203.0.113.66/32")}
    assert [networks for _, networks in cuts] == [network, network]
    assert cuts[0][0] - banned_at < 0.2
    assert enforce.SECOND_CUT_AFTER - 0.05 <= cuts[1][0] - banned_at < enforce.SECOND_CUT_AFTER + 0.5
