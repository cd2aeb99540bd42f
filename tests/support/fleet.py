"""The fleet lab: three throwaway mail hosts on one bridge, and attackers on the far side of it.

    switch (a Throwaway)                       hosts (each a Throwaway, hostname mail-a/b/c)
      br0  192.0.2.254/24, 2001:db8::fe/64  --vmail-a-- eth0 192.0.2.1  2001:db8::1   mail-a (lapi)
           203.0.113.10 .. 203.0.113.40     --vmail-b-- eth0 192.0.2.2  2001:db8::2   mail-b (member)
           198.51.100.7                     --vmail-c-- eth0 192.0.2.3  2001:db8::3   mail-c (member)

The attacker addresses live on br0 itself, so `lab.switch.run(...)` (or `lab.probe(...)`) sends
from any of them; each host's default route points back at the switch. Every veth pair is made
from inside the switch's network namespace straight into a host's: nothing is ever added to this
machine's own network namespace, and the lab vanishes with the four namespaces.
"""

import concurrent.futures
import contextlib
import json
import shlex
import subprocess
import sys
from dataclasses import dataclass

from tests.support.throwaway import Throwaway

HOSTS = {"mail-a": "192.0.2.1", "mail-b": "192.0.2.2", "mail-c": "192.0.2.3"}
HOSTS_V6 = {"mail-a": "2001:db8::1", "mail-b": "2001:db8::2", "mail-c": "2001:db8::3"}
LAPI_HOST = "mail-a"
ROLES = {"mail-a": "lapi", "mail-b": "member", "mail-c": "member"}
LAPI_URL = f"http://{HOSTS[LAPI_HOST]}:8080"
SWITCH_ADDRESS, SWITCH_ADDRESS_V6 = "192.0.2.254", "2001:db8::fe"
ATTACKERS = tuple(f"203.0.113.{number}" for number in range(10, 41))
RANGE_ATTACKER = "198.51.100.7"
FLEET_IGNOREIP = "203.0.113.200"

# TCP connects, one after the other, each bounded by the timeout. "refused" is as good a proof of
# reachability as "open": the host's kernel answered. Only "timeout" (or an error) means the packets
# got nowhere. One interpreter for many connects: starting one per connect costs more than the lab.
PROBE = r"""
import json, socket, sys
timeout = float(sys.argv[1])
outcomes = []
for source, address, port in json.loads(sys.argv[2]):
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as connection:
        connection.settimeout(timeout)
        try:
            if source:
                connection.bind((source, 0))
            connection.connect((address, port))
            outcomes.append("open")
        except ConnectionRefusedError:
            outcomes.append("refused")
        except socket.timeout:
            outcomes.append("timeout")
        except OSError as error:
            outcomes.append(f"error: {error}")
print(json.dumps(outcomes))
"""


def probe_many_from(namespace, connects, timeout=2.0):
    """The outcome ('open', 'refused', 'timeout' or 'error: ...') of each (source or None, address, port)
    TCP connect made from inside namespace."""
    connects = [[source or "", address, int(port)] for source, address, port in connects]
    result = namespace.run(shlex.join([sys.executable, "-c", PROBE, str(timeout), json.dumps(connects)]),
                           timeout=timeout * len(connects) + 10, check=True)
    return json.loads(result.stdout)


def probe_from(namespace, address, port=25, source=None, timeout=2.0):
    return probe_many_from(namespace, [(source, address, port)], timeout)[0]


def this_machines_links():
    """`ip -o link` of this machine's own network namespace, without counters: it must be the same
    after the lab as before it."""
    result = subprocess.run(["ip", "-o", "link", "show"], stdout=subprocess.PIPE, text=True, check=True)
    return sorted(line.split("\\")[0] for line in result.stdout.splitlines())


@dataclass
class FleetLab:
    switch: Throwaway
    hosts: dict                     # name -> Throwaway, in HOSTS order
    addresses: dict = None          # name -> IPv4 address
    addresses_v6: dict = None
    roles: dict = None
    lapi_url: str = LAPI_URL
    attackers: tuple = ATTACKERS
    range_attacker: str = RANGE_ATTACKER

    @property
    def lapi(self):
        return self.hosts[LAPI_HOST]

    def probe(self, source, name_or_address, port=25, timeout=2.0):
        """A TCP connect from an attacker address on the switch to a host (by name or address)."""
        address = self.addresses.get(name_or_address, name_or_address)
        return probe_from(self.switch, address, port, source=source, timeout=timeout)

    def probe_many(self, connects, timeout=2.0):
        """probe for many (source, name or address, port) at once: one process in the switch."""
        return probe_many_from(self.switch, [(source, self.addresses.get(target, target), port)
                                             for source, target, port in connects], timeout)

    def probe_between(self, source_name, target_name, port=25, timeout=2.0):
        """A TCP connect from one fleet host to another."""
        return probe_from(self.hosts[source_name], self.addresses[target_name], port, timeout=timeout)

    def in_switch_net(self):
        """nsenter arguments that run a command in the switch's network namespace only, with this
        machine's files: a controller (ssh, ansible-playbook) that reaches the hosts as an admin's would."""
        return net_only(self.switch)


def net_only(throwaway):
    return ["nsenter", f"--net=/proc/{throwaway.pid}/ns/net", "--"]


def _build_switch(switch):
    lines = ["ip link add br0 type bridge", "ip link set br0 up",
             f"ip addr add {SWITCH_ADDRESS}/24 dev br0",
             f"ip -6 addr add {SWITCH_ADDRESS_V6}/64 dev br0 nodad",
             f"ip addr add {RANGE_ATTACKER}/32 dev br0"]
    lines += [f"ip addr add {attacker}/32 dev br0" for attacker in ATTACKERS]
    switch.run(" && ".join(lines), check=True)


def _plug_in(switch, host, name):
    port = f"v{name}"
    # Made inside the switch's netns with the peer born in the host's: never in this machine's.
    subprocess.run([*net_only(switch), "ip", "link", "add", port, "type", "veth", "peer", "name", "eth0",
                    "netns", str(host.pid)], check=True, timeout=30)
    switch.run(f"ip link set {port} master br0 && ip link set {port} up", check=True)
    host.run(" && ".join([
        f"ip addr add {HOSTS[name]}/24 dev eth0",
        f"ip -6 addr add {HOSTS_V6[name]}/64 dev eth0 nodad",
        "ip link set eth0 up",
        f"ip route add default via {SWITCH_ADDRESS}",
        f"ip -6 route add default via {SWITCH_ADDRESS_V6}",
    ]), check=True)
    host_lines = "".join(f"{address} {other}\n" for other, address in HOSTS.items())
    host.run(f"printf %s {shlex.quote(host_lines)} >> /etc/hosts", check=True)
    # The default route leads nowhere beyond the switch, where this machine's resolver cannot be reached:
    # a lookup would wait out its time-outs (fail2ban resolves the host's own names before it counts the
    # first failure: 20 s). A resolver on loopback that nobody serves fails at once, as no route did.
    host.run("rm -f /etc/resolv.conf && echo 'nameserver 127.0.0.1' > /etc/resolv.conf", check=True)


def _check_reachable(lab):
    """A fresh bridge forwards at once, but a lab that silently does not would make every fleet test
    fail for the wrong reason: say so here instead."""
    problems = []
    for name in HOSTS:
        if name != LAPI_HOST:
            outcome = lab.probe_between(LAPI_HOST, name)
            if outcome not in ("open", "refused"):
                problems.append(f"{LAPI_HOST} -> {name}: {outcome}")
        for source in (ATTACKERS[0], RANGE_ATTACKER):
            outcome = lab.probe(source, name)
            if outcome not in ("open", "refused"):
                problems.append(f"{source} -> {name}: {outcome}")
    if problems:
        raise RuntimeError("fleet lab not wired: " + "; ".join(problems))


@contextlib.contextmanager
def fleet_lab():
    """The lab, torn down on exit (the namespaces' PID 1s are killed: links, addresses, processes and
    overlays go with them)."""
    throwaways = []
    try:
        switch = Throwaway(hostname="switch")
        throwaways.append(switch)
        hosts = {}
        for name in HOSTS:
            hosts[name] = Throwaway(hostname=name)
            throwaways.append(hosts[name])
        _build_switch(switch)
        for name, host in hosts.items():
            _plug_in(switch, host, name)
        lab = FleetLab(switch=switch, hosts=hosts, addresses=dict(HOSTS), addresses_v6=dict(HOSTS_V6),
                       roles=dict(ROLES))
        _check_reachable(lab)
        yield lab
    finally:
        # Each close waits for its namespace's PID 1 to be gone, about a second: side by side, not in turn.
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(HOSTS) + 1) as pool:
            for closing in [pool.submit(throwaway.close) for throwaway in throwaways]:
                closing.result()
