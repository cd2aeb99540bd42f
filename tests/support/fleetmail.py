"""The fleet lab's three hosts with qmail-fail2ban installed for real and sharing bans: mail-a runs the
Local API, each host runs fail2ban and the fleet daemon. Used by tests/fleet and bench/fleet.py.

Bans are made the way the services cause them: failed logins written into a host's Dovecot log. The
firewall is watched from inside each host by FIRST_SEEN, which polls the sets every 20 ms and notes when
each address first appears in them and when it last left them (one clock: the hosts share the kernel).
"""

import contextlib
import json
import shlex
import sys
import time

from tests.support.fleet import FLEET_IGNOREIP, HOSTS, LAPI_HOST, LAPI_URL, ROLES, fleet_lab
from tests.support.install import REPO, install_on
from tests.support.mailhost import LOG_FOLDERS, RC, TOOL

FLEET_RC = "/etc/rc.d/rc.qmail-f2b-fleet"
CREDENTIALS = "/etc/qmail-fail2ban/fleet"
# The jail the attacks hit; 60 s bans, so that a test can see one end on every host.
JAIL = "dovecot"
BANTIME = 60
WAIT = 30


def secrets(name):
    return f"{name}-machine-password-0123456789", f"{name}-bouncer-key-0123456789abcdef"


def site_conf(name):
    return f"""\
[fleet]
role = {ROLES[name]}
name = {name}
lapi_url = {LAPI_URL}
ignoreip = {FLEET_IGNOREIP}

[jails]
    [[{JAIL}]]
    bantime = {BANTIME}
"""


def write_credentials(host, names):
    lines = [f"mkdir -p {CREDENTIALS}", f"chmod 700 {CREDENTIALS}"]
    for name in names:
        password, key = secrets(name)
        lines += [f"echo {password} > {CREDENTIALS}/{name}.password", f"echo {key} > {CREDENTIALS}/{name}.bouncer-key"]
    lines.append(f"chmod 600 {CREDENTIALS}/*")
    host.run(" && ".join(lines), check=True)


def install_member(lab, name, tarball):
    host = lab.hosts[name]
    host.run(f"mkdir -p {' '.join(LOG_FOLDERS)}", check=True)
    write_credentials(host, HOSTS if name == LAPI_HOST else [name])
    host.run(f"cat > /root/site.conf <<'EOF'\n{site_conf(name)}EOF", check=True)
    install_on(host, tarball, "--yes", "--quiet", "--config", "/root/site.conf")
    host.run(f"{RC} start >/dev/null && {FLEET_RC} start >/dev/null", check=True, timeout=120)


@contextlib.contextmanager
def installed_fleet(tarball):
    """The lab with the fleet installed and serving; the lapi host first, as an admin would do it."""
    with fleet_lab() as lab:
        for name in HOSTS:
            install_member(lab, name, tarball)
        wait_for(lambda: all(bouncer_ready(lab.hosts[name]) for name in HOSTS), "every host's bouncer enforcing")
        yield lab


def wait_for(probe, what, seconds=WAIT, interval=0.1):
    deadline = time.monotonic() + seconds
    while True:
        seen = probe()
        if seen:
            return seen
        assert time.monotonic() < deadline, f"{what} did not happen within {seconds} s"
        time.sleep(interval)


def bouncer_ready(host):
    return host.run("iptables -w -C qf2b-fleet -m set --match-set qf2b-fleet4 src -j DROP").returncode == 0


def in_set(host, set_name, address):
    return host.run(f"ipset test {set_name} {address}").returncode == 0


def decisions(lab):
    """The Local API's decisions in force, as a bouncer reads them."""
    key = secrets(LAPI_HOST)[1]
    output = lab.lapi.run(f"curl -sf -H 'X-Api-Key: {key}' {LAPI_URL}/v1/decisions", check=True).stdout
    return json.loads(output or "null") or []


# Publishes one ban as machine NAME would, with installer.fleet's own client.
PUBLISH = """
import ipaddress, sys
sys.path.insert(0, sys.argv[1])
from installer.fleet.lapi import Lapi, alert
name, password, jail, address, seconds = sys.argv[2:7]
Lapi(sys.argv[7], name, password).publish([alert(name, jail, ipaddress.ip_network(address), int(seconds))])
"""


def publish_as(lab, name, jail, address, seconds):
    password = secrets(name)[0]
    lab.hosts[name].run(shlex.join(["/usr/bin/python3", "-c", PUBLISH, str(REPO), name, password, jail, address,
                                    str(seconds), LAPI_URL]), check=True)


def failures(host, address, count=10):
    """Failed IMAP logins from address as Dovecot logs them: count beats the jail's maxretry."""
    stamp = time.strftime("%b %d %H:%M:%S")
    session = f"{time.monotonic_ns():x}"
    lines = "".join(f"{stamp} imap-login: Info: Disconnected (auth failed, 1 attempts in 2 secs): user=<admin{i}>,"
                    f" method=PLAIN, rip={address}, lip=192.0.2.2, TLS, session=<{session}x{i}>\n"
                    for i in range(count))
    host.run(f"cat >> /var/log/dovecot/dovecot.log <<'EOF'\n{lines}EOF", check=True)


# Polls the sets given every 20 ms for at most SECONDS s and prints, per address, when it was first in
# one of them and when it last left them (epoch seconds): {"first": {...}, "left": {...}}. Until
# "arrive": done when every address has come. Until "leave": done when every address came and has been
# gone for SETTLE s, and not before NOT_BEFORE s (a set rebuilt meanwhile empties only for a moment).
FIRST_SEEN = r"""
import json, subprocess, sys, time
seconds, sets, addresses = float(sys.argv[1]), sys.argv[2].split(","), set(sys.argv[3].split(","))
until, not_before, settle = sys.argv[4], float(sys.argv[5]), 5.0
first, left, present = {}, {}, set()
start = time.monotonic()
end = start + seconds
while time.monotonic() < end:
    listed = set()
    for name in sets:
        out = subprocess.run(["ipset", "list", name], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             text=True).stdout
        listed.update(line.split()[0] for line in out.splitlines() if line[:1].isdigit() or ":" in line[:5])
    now, clock = time.time(), time.monotonic()
    for address in addresses & listed:
        first.setdefault(address, now)
    for address in present - listed:
        left[address] = now
    present = addresses & listed
    if until == "arrive" and len(first) == len(addresses):
        break
    if (until == "leave" and len(first) == len(addresses) and not present and clock - start >= not_before
            and all(now - left.get(address, now) >= settle for address in addresses)):
        break
    time.sleep(0.02)
print(json.dumps({"first": first, "left": left}))
"""


class Watch:
    """FIRST_SEEN running in the background on a host until collect()."""

    def __init__(self, host, sets, addresses, seconds, until="arrive", not_before=0):
        self.host, self.out = host, f"/tmp/first-seen-{time.monotonic_ns()}.json"
        script = shlex.join([sys.executable, "-c", FIRST_SEEN, str(seconds), ",".join(sets), ",".join(addresses),
                             until, str(not_before)])
        written = f"{script} > {self.out}.tmp && mv {self.out}.tmp {self.out}"
        host.run(f"setsid sh -c {shlex.quote(written)} </dev/null >/dev/null 2>&1 &", check=True)
        self.seconds = seconds

    def collect(self):
        wait_for(lambda: self.host.run(f"test -s {self.out}").returncode == 0, "the set watcher's answer",
                 seconds=self.seconds + 10)
        return json.loads(self.host.run(f"cat {self.out}", check=True).stdout)


def jail_sets(jail=JAIL):
    return [f"qf2b4-{jail}", f"qf2b6-{jail}"]


FLEET_SETS = ["qf2b-fleet4", "qf2b-fleet6"]


def tool(host, *args, check=True):
    return host.run(shlex.join([TOOL, *args]), check=check, timeout=60)
