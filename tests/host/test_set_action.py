"""action.d/qmail-f2b-set.py in a real fail2ban-server on a throwaway installed host, with each firewall.

Bans reach the firewall from a writer thread, so every check waits (bounded) for the state it expects.
"""

import ipaddress
import json
import time

import pytest

JAIL_D = "/etc/fail2ban/jail.d/zz-set-action.local"
RC = "/etc/rc.d/rc.fail2ban"
WAIT = 20


def configure(host, options, check=True):
    host.run(f"printf '[custom]\\naction = qmail-f2b-set.py[{options}]\\n' > {JAIL_D}", check=True)
    return host.run(f"{RC} restart", timeout=120, check=check)


def nftables_contents(host):
    listing = host.run("nft -j list table inet qmail-f2b-custom")
    if listing.returncode != 0:
        return None
    contents = {}
    for item in json.loads(listing.stdout)["nftables"]:
        if "set" in item:
            elements = []
            for element in item["set"].get("elem", []):
                prefix = element.get("prefix") if isinstance(element, dict) else None
                elements.append(f"{prefix['addr']}/{prefix['len']}" if prefix else element)
            contents[item["set"]["name"]] = set(elements)
    return contents


def ipset_contents(host):
    contents = {}
    for name in ("qf2b4-custom", "qf2b6-custom"):
        listing = host.run(f"ipset list {name}")
        if listing.returncode != 0:
            return None
        contents[name] = set(listing.stdout.split("Members:\n", 1)[1].split())
    return contents


def as_sets(firewall, bans):
    """What the firewall should hold for these bans (as fail2ban spells them)."""
    networks = [ipaddress.ip_network(ban) for ban in bans]
    if firewall == "ipset":
        return {f"qf2b{version}-custom": {str(net) if net.prefixlen < net.max_prefixlen else str(net.network_address)
                                          for net in networks if net.version == version} for version in (4, 6)}
    expected = {}
    for version in (4, 6):
        family = [net for net in networks if net.version == version]
        expected[f"addr{version}"] = {str(net.network_address) for net in family if net.prefixlen == net.max_prefixlen}
        expected[f"net{version}"] = {str(net) for net in ipaddress.collapse_addresses(
            net for net in family if net.prefixlen < net.max_prefixlen)}
    return expected


def contents(host, firewall):
    return (ipset_contents if firewall == "ipset" else nftables_contents)(host)


def settles_at(host, firewall, expected):
    """Whether the firewall comes to hold exactly `expected` (it is written behind fail2ban's calls)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if contents(host, firewall) == expected:
            return True
        time.sleep(0.1)
    print(contents(host, firewall))
    return False


def client(host, *args):
    return host.run("fail2ban-client " + " ".join(args), check=True).stdout.strip()


BANS = ["192.0.2.1", "203.0.113.7", "2001:db8::1", "198.51.100.0/24", "198.51.100.0/25", "198.51.101.0/24",
        "2001:db8:1::/48", "2001:db8:1:2::/64"]


@pytest.fixture(params=["nftables", "ipset"])
def firewall(request, installed_host):
    configure(installed_host, f"firewall={request.param}")
    yield request.param
    client(installed_host, "unban", "--all")


def test_addresses_and_networks_of_both_families_are_banned_and_unbanned(installed_host, firewall):
    assert client(installed_host, "set", "custom", "banip", *BANS) == str(len(BANS))
    assert settles_at(installed_host, firewall, as_sets(firewall, BANS))
    # Overlapping networks leave one at a time, in any order.
    for gone in ("198.51.100.0/24", "192.0.2.1", "2001:db8:1::/48"):
        client(installed_host, "set", "custom", "unbanip", gone)
    left = [ban for ban in BANS if ban not in ("198.51.100.0/24", "192.0.2.1", "2001:db8:1::/48")]
    assert settles_at(installed_host, firewall, as_sets(firewall, left))


def test_a_restart_restores_every_ban_from_fail2ban_database(installed_host, firewall):
    client(installed_host, "set", "custom", "banip", *BANS)
    assert settles_at(installed_host, firewall, as_sets(firewall, BANS))
    installed_host.run(f"{RC} restart", check=True, timeout=120)
    assert settles_at(installed_host, firewall, as_sets(firewall, BANS))


def test_a_reload_keeps_the_bans_and_takes_new_ports(installed_host, firewall):
    client(installed_host, "set", "custom", "banip", *BANS)
    assert settles_at(installed_host, firewall, as_sets(firewall, BANS))
    installed_host.run(f"{RC} reload", check=True, timeout=120)
    assert settles_at(installed_host, firewall, as_sets(firewall, BANS))
    installed_host.run(f"printf '[custom]\\naction = qmail-f2b-set.py[firewall={firewall}, port=\"25,587\"]\\n'"
                       f" > {JAIL_D} && {RC} reload", check=True, timeout=120)
    rules = installed_host.run("iptables -S INPUT; ip6tables -S INPUT" if firewall == "ipset"
                               else "nft list chain inet qmail-f2b-custom input").stdout
    assert rules.count("--dports 25,587" if firewall == "ipset" else "tcp dport { 25, 587 }") == 2 + 2 * (
        firewall == "nftables"), rules
    assert settles_at(installed_host, firewall, as_sets(firewall, BANS))


def test_a_thousand_addresses_in_one_call_all_arrive(installed_host, firewall):
    many = [str(ipaddress.ip_address("198.18.0.1") + index) for index in range(900)]
    many += [str(ipaddress.ip_address("2001:db8:5::1") + index * 65536) for index in range(100)]
    assert client(installed_host, "set", "custom", "banip", *many) == "1000"
    assert settles_at(installed_host, firewall, as_sets(firewall, many))
    client(installed_host, "unban", "--all")
    assert settles_at(installed_host, firewall, as_sets(firewall, []))


def test_stop_takes_everything_out_of_the_firewall(installed_host, firewall):
    client(installed_host, "set", "custom", "banip", *BANS)
    assert settles_at(installed_host, firewall, as_sets(firewall, BANS))
    installed_host.run(f"{RC} stop", check=True, timeout=120)
    assert contents(installed_host, firewall) is None
    assert "qmail-f2b" not in installed_host.run("nft list ruleset").stdout
    installed_host.run(f"{RC} start", check=True, timeout=120)


def test_a_bad_option_is_named_in_fail2ban_log(installed_host):
    configure(installed_host, "firewall=pf", check=False)
    log = installed_host.run("cat /var/log/fail2ban.log").stdout
    assert "qmail-f2b-set: firewall must be one of nftables, ipset, not 'pf'" in log
    configure(installed_host, "firewall=nftables")


LISTENER = ("import socket, time\n"
            "servers = [socket.create_server(('192.0.2.1', 2525)),"
            " socket.create_server(('2001:db8:9::1', 2525), family=socket.AF_INET6)]\n"
            "for server in servers: server.settimeout(0.05)\n"
            "end = time.monotonic() + 120\n"
            "while time.monotonic() < end:\n"
            "    for server in servers:\n"
            "        try: server.accept()[0].close()\n"
            "        except OSError: pass\n")
CONNECT = ("import socket, sys\n"
           "try: socket.create_connection((sys.argv[1], 2525), timeout=3).close(); print('connected')\n"
           "except ConnectionRefusedError: print('refused')\n"
           "except OSError as error: print(type(error).__name__)\n")


@pytest.fixture(scope="module")
def client_namespace(installed_host):
    """A second network namespace, 192.0.2.2 and 2001:db8:9::2, joined to the host by a veth pair."""
    installed_host.run(
        "ip netns add client && ip link add qf2b-host type veth peer name qf2b-client"
        " && ip link set qf2b-client netns client"
        " && ip addr add 192.0.2.1/24 dev qf2b-host && ip addr add 2001:db8:9::1/64 dev qf2b-host nodad"
        " && ip link set qf2b-host up && ip -n client link set lo up"
        " && ip -n client addr add 192.0.2.2/24 dev qf2b-client"
        " && ip -n client addr add 2001:db8:9::2/64 dev qf2b-client nodad && ip -n client link set qf2b-client up"
        f" && (nohup /usr/bin/python3 -c \"{LISTENER}\" >/dev/null 2>&1 &) && sleep 0.5", check=True)
    return "ip netns exec client /usr/bin/python3 -c \"" + CONNECT + "\""


def connects(host, connect, address):
    return host.run(f"{connect} {address}", timeout=30).stdout.strip()


@pytest.mark.parametrize("ban", ["192.0.2.2", "192.0.2.0/28", "2001:db8:9::2", "2001:db8:9::/64"])
def test_a_banned_client_is_refused_and_gets_through_once_unbanned(installed_host, firewall, client_namespace, ban):
    address = "2001:db8:9::1" if ":" in ban else "192.0.2.1"
    assert connects(installed_host, client_namespace, address) == "connected"
    client(installed_host, "set", "custom", "banip", ban)
    assert settles_at(installed_host, firewall, as_sets(firewall, [ban]))
    assert connects(installed_host, client_namespace, address) == "refused"
    client(installed_host, "set", "custom", "unbanip", ban)
    assert settles_at(installed_host, firewall, as_sets(firewall, []))
    assert connects(installed_host, client_namespace, address) == "connected"
