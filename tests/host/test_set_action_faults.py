"""action.d/qmail-f2b-set.py when things go wrong, in a real fail2ban-server on a throwaway installed host.

The firewall tool stops running for a while, bans arrive that the firewall cannot hold, a reload
brings new options or bad ones: fail2ban believes every ban it made is in place, so the firewall
must come to hold them all, and never stand empty meanwhile. Every wait is bounded.
"""

import ipaddress
import json
import time

import pytest

from tests.host.test_set_action import JAIL_D, RC, as_sets, client, configure, contents, settles_at

BANS = ["192.0.2.1", "203.0.113.7", "2001:db8::1", "198.51.100.0/24", "2001:db8:1::/48"]
LATER = ["192.0.2.30", "2001:db8::30"]
# The tool each firewall runs for every batch.
TOOLS = {"nftables": "nft", "ipset": "ipset"}
LOG = "/var/log/fail2ban.log"


@pytest.fixture(params=["nftables", "ipset"])
def firewall(request, installed_host):
    configure(installed_host, f"firewall={request.param}")
    yield request.param
    client(installed_host, "unban", "--all")


def alive(host):
    return host.run("fail2ban-client ping").stdout.strip() == "Server replied: pong"


def log_since(host, mark):
    return host.run(f"tail -c +{mark + 1} {LOG}").stdout


def log_mark(host):
    return int(host.run(f"stat -c %s {LOG}", check=True).stdout)


def tool_path(host, firewall):
    return host.run(f"command -v {TOOLS[firewall]}", check=True).stdout.strip()


# Two ways a tool stops running: found but not executable, and executable but failing to start
# (an empty file: execve answers ENOEXEC, which Python raises as OSError). Both inside the
# throwaway: /usr is its overlay, and the bind mount lives in its own mount namespace.
BREAKS = {
    "not-executable": ("chmod -x {path}", "chmod +x {path}"),
    "exec-fails": ("touch /run/qf2b-broken-tool && chmod +x /run/qf2b-broken-tool"
                   " && mount --bind /run/qf2b-broken-tool {path}", "umount {path}"),
}


@pytest.mark.parametrize("breaking", sorted(BREAKS))
def test_bans_made_while_the_firewall_tool_cannot_run_reach_it_once_it_can(installed_host, firewall, breaking):
    host = installed_host
    client(host, "set", "custom", "banip", *BANS)
    assert settles_at(host, firewall, as_sets(firewall, BANS))
    path = tool_path(host, firewall)
    broken, repaired = (step.format(path=path) for step in BREAKS[breaking])
    host.run(broken, check=True)
    try:
        meanwhile = ["198.18.0.1", "198.18.0.2", "2001:db8:2::7"]
        client(host, "set", "custom", "banip", *meanwhile)
        # Long enough for the writer to meet the broken tool more than once.
        time.sleep(1.5)
    finally:
        host.run(repaired, check=True)
    # No further ban wakes the writer: it must come back by itself.
    assert settles_at(host, firewall, as_sets(firewall, BANS + meanwhile))
    client(host, "set", "custom", "banip", *LATER)
    assert settles_at(host, firewall, as_sets(firewall, BANS + meanwhile + LATER))
    assert alive(host)


def test_bans_restored_while_the_firewall_tool_cannot_run_reach_it_once_it_can(installed_host, firewall):
    host = installed_host
    client(host, "set", "custom", "banip", *BANS)
    assert settles_at(host, firewall, as_sets(firewall, BANS))
    path = tool_path(host, firewall)
    host.run(f"chmod -x {path}", check=True)
    try:
        # The sets cannot be built at start; fail2ban restores its bans all the same.
        host.run(f"{RC} restart", timeout=120)
        time.sleep(1.5)
    finally:
        host.run(f"chmod +x {path}", check=True)
    assert settles_at(host, firewall, as_sets(firewall, BANS))
    client(host, "set", "custom", "banip", *LATER)
    assert settles_at(host, firewall, as_sets(firewall, BANS + LATER))
    assert alive(host)


# What fail2ban hands over as an address, and the firewall batch must never see: an interface
# scope (Python 3.9+'s ipaddress reads it), and scopes carrying a newline or nft's own braces.
UNSPELLABLE = ["fe80::1%eth0", "'fe80::2%x }\ndelete table inet qmail-f2b-custom'", "'fe80::3%{'"]


def test_scoped_addresses_are_left_out_and_every_other_ban_is_kept(installed_host, firewall):
    host = installed_host
    client(host, "set", "custom", "banip", *BANS)
    assert settles_at(host, firewall, as_sets(firewall, BANS))
    mark = log_mark(host)
    normal = ["192.0.2.40", "2001:db8::40", "198.51.101.0/24"]
    host.run("fail2ban-client set custom banip " + " ".join([normal[0], *UNSPELLABLE, *normal[1:]]), check=True)
    assert settles_at(host, firewall, as_sets(firewall, BANS + normal))
    client(host, "set", "custom", "banip", *LATER)
    assert settles_at(host, firewall, as_sets(firewall, BANS + normal + LATER))
    listing = host.run("nft list ruleset; ipset list").stdout
    assert "%" not in listing and "fe80" not in listing, listing
    log = log_since(host, mark)
    assert "qmail-f2b-set bans plain IP addresses and networks only, not 'fe80::1%eth0'" in log, log
    assert "not 'fe80::2%x }\\ndelete table inet qmail-f2b-custom'" in log, log
    assert alive(host)


# fail2ban itself never hands over an address that ipset refuses (it spells a /0 network as its
# first address), so the action is driven here by fail2ban's own Jail in its own Python, each ban
# handed over as the mapping the action reads, against the throwaway's real ipset.
ISOLATION = r"""
import importlib.util, json, logging, re, subprocess, sys, time
from fail2ban.server.jail import Jail
logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(levelname)s %(message)s")
spec = importlib.util.spec_from_file_location("qmail_f2b_set", "/etc/fail2ban/action.d/qmail-f2b-set.py")
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
first, second = json.loads(sys.argv[1]), json.loads(sys.argv[2])
def members():
    found = {}
    for name in ("qf2b4-isolated", "qf2b6-isolated"):
        listing = subprocess.run(["ipset", "list", name], stdout=subprocess.PIPE, text=True).stdout
        found[name] = sorted(listing.split("Members:\n", 1)[-1].split())
    return found
def settle(count):
    end = time.monotonic() + 20
    while sum(map(len, members().values())) != count and time.monotonic() < end:
        time.sleep(0.1)
action = module.Action(Jail("isolated"), "qmail-f2b-set.py", firewall="ipset")
action.start()
for text in first:
    action.ban({"ip": text})
settle(len(first))
for text in second:
    action.ban({"ip": text})
settle(len(first) + len(second) - 2)
print("MEMBERS " + json.dumps(members()), flush=True)
action.stop()
"""


def test_an_address_the_firewall_refuses_costs_only_itself(installed_host):
    """hash:net ipsets take no /0 network: the refused batch is split until only those are left out."""
    host = installed_host
    python = host.run("head -1 \"$(command -v fail2ban-server)\"", check=True).stdout.strip()[2:].split()[0]
    first = ["192.0.2.1", "203.0.113.7", "2001:db8::1", "198.51.100.0/24"]
    many = [str(ipaddress.ip_address("198.18.1.1") + index) for index in range(200)]
    second = [*many[:100], "0.0.0.0/0", *many[100:], "::/0", "2001:db8::50"]
    result = host.run(f"{python} -c '{ISOLATION}' '{json.dumps(first)}' '{json.dumps(second)}'", timeout=120)
    output = result.stdout + result.stderr
    assert "MEMBERS " in result.stdout, output
    members = json.loads(result.stdout.split("MEMBERS ", 1)[1].splitlines()[0])
    expected = as_sets("ipset", first + many + ["2001:db8::50"])
    assert {name.replace("isolated", "custom"): set(found) for name, found in members.items()} == expected, output
    assert "the firewall refuses 0.0.0.0/0" in output and "the firewall refuses ::/0" in output, output
    assert host.run("ipset list -n").stdout.count("isolated") == 0


# Counts the elements of the jail's sets as fast as the tool lists them, until told to stop (a
# file) or 90 s have passed; one line per look: the count, or "missing" when the sets are gone.
POLLER = r"""
import json, os, re, subprocess, sys, time
firewall, stop = sys.argv[1], sys.argv[2]
end = time.monotonic() + 90
def count():
    if firewall == "nftables":
        listing = subprocess.run(["nft", "-j", "list", "table", "inet", "qmail-f2b-custom"],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        if listing.returncode:
            return "missing"
        return sum(len(item["set"].get("elem", [])) for item in json.loads(listing.stdout)["nftables"]
                   if "set" in item)
    total = 0
    for name in ("qf2b4-custom", "qf2b6-custom"):
        listing = subprocess.run(["ipset", "list", "-t", name], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, text=True)
        if listing.returncode:
            return "missing"
        total += int(re.search(r"Number of entries: (\d+)", listing.stdout).group(1))
    return total
while time.monotonic() < end and not os.path.exists(stop):
    print(count(), flush=True)
"""


def test_a_reload_replaces_the_sets_without_ever_leaving_them_empty(installed_host, firewall):
    host = installed_host
    many = [str(ipaddress.ip_address("198.18.2.1") + index) for index in range(300)] + BANS
    client(host, "set", "custom", "banip", *many)
    expected = as_sets(firewall, many)
    assert settles_at(host, firewall, expected)
    size = sum(len(elements) for elements in expected.values())
    stop = "/run/qf2b-stop-poller"
    host.run(f"rm -f {stop}; (/usr/bin/python3 -c '{POLLER}' {firewall} {stop} > /run/qf2b-poller.out 2>&1 &)",
             check=True)
    try:
        # New options at every reload, so that each one rebuilds the sets.
        for ports in ('port="25,587", ', 'port="25", ', 'port="1000:2000", ', "", 'port="smtp", ', ""):
            host.run(f"printf '[custom]\\naction = qmail-f2b-set.py[{ports}firewall={firewall}]\\n' > {JAIL_D}"
                     f" && {RC} reload", check=True, timeout=120)
    finally:
        host.run(f"touch {stop}", check=True)
    deadline = time.monotonic() + 10
    while host.run("pgrep -f '[q]f2b-stop-poller'").returncode == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    looks = host.run("cat /run/qf2b-poller.out", check=True).stdout.split()
    assert len(looks) > 10, looks
    assert set(looks) == {str(size)}, [look for look in looks if look != str(size)][:20]
    assert settles_at(host, firewall, expected)
    assert alive(host)


@pytest.mark.parametrize("firewall, port, message", [
    ("nftables", "99999", "port '99999' is out of range (ports are 1 to 65535)"),
    ("ipset", "99999", "port '99999' is out of range (ports are 1 to 65535)"),
    ("nftables", "70000:1", "port '70000:1' is out of range"),
    ("ipset", "70000:1", "port '70000:1' is out of range"),
    ("nftables", "2000:1000", "port range '2000:1000' ends before it starts"),
    ("nftables", "25,0", "port '0' is out of range"),
    ("nftables", "no-such-service", "port 'no-such-service' is no tcp service this host knows"),
])
def test_a_bad_port_is_refused_at_start_with_a_clear_message(installed_host, firewall, port, message):
    host = installed_host
    mark = log_mark(host)
    configure(host, f'firewall={firewall}, port="{port}"', check=False)
    log = log_since(host, mark)
    try:
        assert f"qmail-f2b-set: {message}" in log, log
    finally:
        configure(host, f"firewall={firewall}")


def test_more_ports_than_iptables_matches_are_refused_at_start(installed_host):
    host = installed_host
    mark = log_mark(host)
    ports = ",".join(str(port) for port in range(1001, 1015)) + ",2000:2001"
    configure(host, f'firewall=ipset, port="{ports}"', check=False)
    log = log_since(host, mark)
    try:
        assert "qmail-f2b-set: iptables matches at most 15 ports (a range counts as two)" in log, log
    finally:
        configure(host, "firewall=nftables")


def rules(host, firewall):
    return host.run("iptables -S INPUT; ip6tables -S INPUT" if firewall == "ipset"
                    else "nft list chain inet qmail-f2b-custom input").stdout


def test_a_reload_with_a_bad_port_keeps_the_sets_and_the_next_reload_works(installed_host, firewall):
    host = installed_host
    client(host, "set", "custom", "banip", *BANS)
    assert settles_at(host, firewall, as_sets(firewall, BANS))
    before = rules(host, firewall)
    mark = log_mark(host)
    for port in ("99999", "70000:1"):
        host.run(f"printf '[custom]\\naction = qmail-f2b-set.py[firewall={firewall}, port=\"{port}\"]\\n'"
                 f" > {JAIL_D} && {RC} reload", timeout=120)
        assert contents(host, firewall) == as_sets(firewall, BANS)
        assert rules(host, firewall) == before
    assert "qmail-f2b-set: port '99999' is out of range" in log_since(host, mark)
    client(host, "set", "custom", "banip", *LATER)
    assert settles_at(host, firewall, as_sets(firewall, BANS + LATER))
    host.run(f"printf '[custom]\\naction = qmail-f2b-set.py[firewall={firewall}, port=\"25,587\"]\\n'"
             f" > {JAIL_D} && {RC} reload", check=True, timeout=120)
    assert rules(host, firewall).count("--dports 25,587" if firewall == "ipset" else "tcp dport { 25, 587 }") == (
        2 if firewall == "ipset" else 4)
    assert settles_at(host, firewall, as_sets(firewall, BANS + LATER))
    assert alive(host)
