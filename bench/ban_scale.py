"""Ban scale: a 5,000-address blocklist banned with `qmail-f2b ban`, then a restart that restores it.

For each firewall, fail2ban's own per-address action (the reference: one shell and one firewall
process per ban) against our set-based action.d/qmail-f2b-set.py (one firewall process per batch),
on the manual-ban jail [custom] of a real install in a throwaway host. Timed: from the ban command
to every address present in the firewall, and from the restart command to every address back.
"""

import ipaddress
import time

from bench.common import Figure, bench_host, run_python, wait_until

ADDRESSES = 5000
IPV6_SHARE = 0.08
# Only single addresses: fail2ban 1.0.2's nftables sets take no networks, and the reference must
# be able to ban the same list. Networks are covered by tests/host/test_set_action.py.

# (banaction, fail2ban's per-address action, our set-based action)
FIREWALLS = (
    ("nftables", "nftables-allports[name=custom, protocol=tcp]", "qmail-f2b-set.py[firewall=nftables]"),
    ("ipset", "iptables-ipset-proto6-allports[name=custom, protocol=tcp]", "qmail-f2b-set.py[firewall=ipset]"),
    # banaction = iptables: ipset sets matched by iptables rules wherever ipset is installed.
    ("iptables", "iptables-allports[name=custom, protocol=tcp]", "qmail-f2b-set.py[firewall=ipset]"),
)

# Everything any of the actions above puts in the firewall: set elements, ipset entries, rules.
COUNT = r"""
import json, re, subprocess
def out(*argv):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
total = 0
for item in json.loads(out("nft", "-j", "list", "sets") or '{"nftables": []}')["nftables"]:
    if "set" in item:
        listed = json.loads(out("nft", "-j", "list", "set", item["set"]["family"], item["set"]["table"],
                                item["set"]["name"]))["nftables"]
        total += sum(len(entry["set"].get("elem", [])) for entry in listed if "set" in entry)
total += sum(int(found) for found in re.findall(r"Number of entries: (\d+)", out("ipset", "list", "-t")))
for iptables in ("iptables", "ip6tables"):
    total += len(re.findall(r"^-A f2b-custom -s ", out(iptables, "-w", "-S"), re.M))
print(total)
"""

DATABASE_COUNT = ("/usr/bin/python3 -c \"import sqlite3; print(sqlite3.connect('/var/lib/fail2ban/fail2ban.sqlite3')"
                  ".execute(\\\"select count(*) from bans where jail='custom'\\\").fetchone()[0])\"")


def blocklist(count=ADDRESSES):
    """Addresses from the benchmarking ranges 198.18.0.0/15 and 2001:db8::/32, none ever contacted."""
    ipv6 = int(count * IPV6_SHARE)
    first4 = int(ipaddress.ip_address("198.18.0.1"))
    first6 = int(ipaddress.ip_address("2001:db8:5::1"))
    return ([str(ipaddress.ip_address(first4 + index)) for index in range(count - ipv6)]
            + [str(ipaddress.ip_address(first6 + index * 65537)) for index in range(ipv6)])


def in_firewall(host):
    result = run_python(host, COUNT)
    return int(result.stdout.strip() or 0)


def in_database(host):
    result = host.run(DATABASE_COUNT, timeout=60)
    return int(result.stdout.strip() or 0)


def ban_command(host, addresses):
    """`qmail-f2b ban` as the admin types it; fail2ban-client's banip where qmail-f2b has no ban yet."""
    listing = " ".join(addresses)
    if host.run("qmail-f2b ban --help").returncode == 0:
        return f"qmail-f2b ban {listing} >/dev/null", "qmail-f2b ban"
    return f"fail2ban-client set custom banip {listing} >/dev/null", "fail2ban-client set custom banip"


def measure(action, addresses, timeout):
    """(seconds to ban all, seconds to restore all after a restart, elements after, command used)."""
    with bench_host() as host:
        # The firewall action alone: the rendered jail also mails per ban, which is another matter.
        host.run(f"printf '[custom]\\naction = {action}\\n' > /etc/fail2ban/jail.d/zz-bench.local", check=True)
        host.run("/etc/rc.d/rc.fail2ban start", check=True, timeout=120)
        command, used = ban_command(host, addresses)
        started = time.monotonic()
        host.run(command, check=True, timeout=timeout)
        banned = wait_until(lambda: in_firewall(host) >= len(addresses), timeout, interval=0.2)
        ban_time = banned - started if banned else None
        # The restart must find every ban in fail2ban's database, which it writes behind the bans.
        wait_until(lambda: in_database(host) >= len(addresses), timeout, interval=0.5)
        started = time.monotonic()
        host.run("/etc/rc.d/rc.fail2ban restart", check=True, timeout=timeout)
        restored = wait_until(lambda: in_firewall(host) >= len(addresses), timeout, interval=0.2)
        restore_time = restored - started if restored else None
        return ban_time, restore_time, in_firewall(host), used


def run(progress=print, addresses=ADDRESSES, reference_addresses=1000, timeout=180):
    """Ours on `addresses`; fail2ban's per-address actions on `reference_addresses`, scaled linearly to
    `addresses` when fewer (they cost one process per address: minutes for 5,000 with three firewalls)."""
    figures = []
    ours_list, reference_list = blocklist(addresses), blocklist(reference_addresses)
    scale = addresses / reference_addresses
    scaled = f", {reference_addresses:,} measured x{scale:g}" if scale != 1 else ""
    used = None
    for banaction, reference_action, our_action in FIREWALLS:
        name = reference_action.split("[")[0]
        progress(f"ban scale: {banaction}, fail2ban's {name} ({reference_addresses:,} addresses)")
        reference = measure(reference_action, reference_list, timeout)
        ours = None
        if our_action:
            progress(f"ban scale: {banaction}, qmail-f2b-set ({addresses:,} addresses)")
            ours = measure(our_action, ours_list, timeout)
        used = reference[3]
        ours_label = "qmail-f2b-set" if ours else "no set-based path"
        reference_times = [value * scale if value else None for value in reference[:2]]
        figures += [
            Figure(f"ban {addresses:,} ({banaction})", ours and ours[0], reference_times[0], "s",
                   ours_label, name + scaled, "at most 5 s"),
            Figure(f"restart and restore {addresses:,} ({banaction})", ours and ours[1], reference_times[1], "s",
                   ours_label, name + scaled, "at most 5 s"),
            Figure(f"firewall elements afterwards ({banaction})", ours and ours[2], reference[2], "elements",
                   ours_label, f"{name}, of {reference_addresses:,}"),
        ]
    notes = [f"{addresses:,} single addresses ({int(addresses * IPV6_SHARE)} of them IPv6) given to one `{used}`"
             " call on the [custom] jail, with only the firewall action (no mail per ban).",
             "Ban time runs until every address is in the firewall; restore time from `rc.fail2ban restart`"
             " (configuration test, stop, start) until every address is back, restored from fail2ban's database.",
             "banaction = iptables renders our set action on ipset sets wherever ipset is installed (the iptables"
             " rows' ours), and fail2ban's iptables-allports, one rule per address, where it is not (their"
             " reference)."]
    if scale != 1:
        notes.append(f"fail2ban's own actions were timed on {reference_addresses:,} addresses and scaled x{scale:g}"
                     " (their cost is one process per address); `python -m bench --full` times them on"
                     f" {addresses:,}.")
    return figures, notes
