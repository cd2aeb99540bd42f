"""5,000 bans come back within 5 s after the firewall is flushed, fail2ban untouched: qmail-f2b-set.py's
writer notices its table (nftables) or its rules (ipset, after iptables -F; iptables -X) are gone and
rebuilds them in one batch, on a throwaway installed host with its own firewall.

The tests share one host; each starts from it as installed (back_as_installed).
"""

import ipaddress
import os
import tempfile
import time

import pytest

from tests.support.mailhost import RC, back_as_installed, installed_mail_host

BANS = 5000
BACK_WITHIN = 5.0
OVERRIDE = "/etc/fail2ban/jail.d/zz-test.local"
FLUSHES = {
    "nftables": "nft flush ruleset",
    "ipset": "iptables -w -F; iptables -w -X; ip6tables -w -F; ip6tables -w -X",
}

# The bans in force: nft set elements of our tables that still have their chain; ipset entries of
# sets that an iptables rule matches.
IN_FORCE = r"""
import json, re, subprocess
def out(*argv):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
total = 0
ruleset = json.loads(out("nft", "-j", "list", "ruleset") or '{"nftables": []}')["nftables"]
chained = {item["chain"]["table"] for item in ruleset if "chain" in item}
for item in ruleset:
    if "set" in item and item["set"]["table"] == "qmail-f2b-custom" and item["set"]["table"] in chained:
        total += len(item["set"].get("elem", []))
rules = out("iptables", "-w", "-S") + out("ip6tables", "-w", "-S")
for name in set(re.findall(r"--match-set (qf2b[46]-custom) src", rules)):
    total += sum(int(n) for n in re.findall(r"Number of entries: (\d+)", out("ipset", "list", "-t", name)))
print(total)
"""


@pytest.fixture(scope="module")
def host(fixture_tarball):
    # The counting script reaches the throwaway through the /tmp it shares.
    with installed_mail_host(fixture_tarball) as host, tempfile.NamedTemporaryFile("w", suffix=".py") as script:
        script.write(IN_FORCE)
        script.flush()
        os.chmod(script.name, 0o644)
        host.in_force_script = script.name
        yield host


@pytest.fixture(autouse=True)
def as_installed(host):
    back_as_installed(host)


def addresses(count=BANS):
    """Benchmarking-range addresses, a tenth of them IPv6."""
    first4, first6 = int(ipaddress.ip_address("198.18.0.1")), int(ipaddress.ip_address("2001:db8:5::1"))
    ipv6 = count // 10
    return ([str(ipaddress.ip_address(first4 + index)) for index in range(count - ipv6)]
            + [str(ipaddress.ip_address(first6 + index * 65537)) for index in range(ipv6)])


def in_force(host):
    result = host.run(f"/usr/bin/python3 {host.in_force_script}")
    return int(result.stdout.strip() or 0)


def wait_in_force(host, count, seconds):
    """Seconds until the firewall holds count bans in force, or None."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if in_force(host) >= count:
            return time.monotonic() - started
        time.sleep(0.05)
    return None


def server_pid(host):
    return host.run("cat /var/run/fail2ban/fail2ban.pid", check=True).stdout.strip()


@pytest.mark.parametrize("firewall", FLUSHES)
def test_five_thousand_bans_are_back_within_five_seconds_of_a_flush(host, firewall):
    host.run(f"printf '[custom]\\naction = qmail-f2b-set.py[firewall={firewall}, protocol=tcp]\\n' > {OVERRIDE}"
             f" && {RC} restart", check=True, timeout=120)
    host.run(f"fail2ban-client set custom banip {' '.join(addresses())} >/dev/null", check=True, timeout=120)
    assert wait_in_force(host, BANS, 60) is not None, in_force(host)
    pid = server_pid(host)
    host.run(FLUSHES[firewall], check=True)
    assert in_force(host) == 0
    took = wait_in_force(host, BANS, BACK_WITHIN)
    assert took is not None, f"{in_force(host)} of {BANS} bans back after {BACK_WITHIN} s"
    print(f"{BANS} bans back {took:.2f} s after {FLUSHES[firewall]}")
    assert server_pid(host) == pid, "fail2ban was restarted"
    assert "the firewall lost the" in host.run("grep 'custom.*lost the' /var/log/fail2ban.log").stdout
