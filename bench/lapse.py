"""Protection that does not lapse: a ban ends the open sessions; a flushed firewall gets its bans back.

On the manual-ban jail [custom] of a real install in a throwaway host, with the attacker in a second
network namespace joined by a veth pair (tests/support/mailhost.py's addresses):

- ban to the last session closed: the attacker holds idle SMTP sessions to a stand-in server; timed
  from `fail2ban-client set custom banip` until the server has no ESTABLISHED session with it. Ours:
  the jail as jail.local gives it (qmail-f2b-set.py + qmail-f2b-enforce.py); the reference: fail2ban's
  own iptables-allports, which leaves them open (checked for REFERENCE_WAIT seconds).
- flush to every ban back: 5,000 bans, then the admin's reload wipes the firewall (`nft flush ruleset`
  for the nftables set action; `iptables -F; iptables -X` and ip6tables for the ipset one); timed until
  the firewall holds every ban again, fail2ban untouched. The reference: fail2ban's own
  iptables-allports, whose bans come back only with `rc.fail2ban restart` (what an admin can do
  upstream), timed from the flush through that restart.
"""

import shlex
import sys
import time

from bench.ban_scale import ADDRESSES, DATABASE_COUNT, blocklist
from bench.common import Figure, bench_host, median, run_python, wait_until
from tests.support.mailhost import ATTACKER_V4, CLIENT, NETWORK, SERVER_V4, SINK

HELD = 8
ROUNDS = 3
REFERENCE_WAIT = 10
JAIL_D = "/etc/fail2ban/jail.d/zz-bench.local"
OURS_CUT = ("qmail-f2b-set.py[firewall=ipset, protocol=tcp]\n         qmail-f2b-enforce.py")
REFERENCE = "iptables-allports[name=custom, protocol=tcp]"
FLUSH_IPTABLES = "iptables -w -F; iptables -w -X; ip6tables -w -F; ip6tables -w -X"

# (what is flushed, our action, how the admin flushes it)
FLUSHES = (
    ("nftables", "qmail-f2b-set.py[firewall=nftables, protocol=tcp]", "nft flush ruleset"),
    ("ipset", "qmail-f2b-set.py[firewall=ipset, protocol=tcp]", FLUSH_IPTABLES),
)

# Bans the firewall holds in force: nft set elements of a table with its chain, ipset entries of sets
# an iptables rule matches, and fail2ban's own rules in a chain INPUT jumps to.
IN_FORCE = r"""
import json, re, subprocess
def out(*argv):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
total = 0
ruleset = json.loads(out("nft", "-j", "list", "ruleset") or '{"nftables": []}')["nftables"]
chained = {item["chain"]["table"] for item in ruleset if "chain" in item}
for item in ruleset:
    if "set" in item and item["set"]["table"].startswith("qmail-f2b-") and item["set"]["table"] in chained:
        total += len(item["set"].get("elem", []))
rules = out("iptables", "-w", "-S") + out("ip6tables", "-w", "-S")
for name in set(re.findall(r"--match-set (\S+) src", rules)):
    total += sum(int(n) for n in re.findall(r"Number of entries: (\d+)", out("ipset", "list", "-t", name)))
for chain in set(re.findall(r"^-A INPUT .*-j (f2b-\S+)", rules, re.M)):
    total += len(re.findall(rf"^-A {chain} -s ", rules, re.M))
print(total)
"""


def in_force(host):
    return int(run_python(host, IN_FORCE).stdout.strip() or 0)


def configure(host, action):
    host.run(f"printf '[custom]\\naction = {action}\\n' > {JAIL_D}", check=True)
    host.run("/etc/rc.d/rc.fail2ban restart", check=True, timeout=180)


def sessions(host):
    listing = host.run(f"ss -Htn state established '( dst {ATTACKER_V4} or dst [::ffff:{ATTACKER_V4}] )'").stdout
    return len(listing.splitlines())


def hold(host):
    command = shlex.join([sys.executable, str(CLIENT), "hold", SERVER_V4, "25", str(HELD), "60"])
    host.run(f"ip netns exec attacker setsid -f sh -c {shlex.quote('echo $$ > /run/hold.pid; exec ' + command)}"
             " </dev/null >/run/hold.out 2>&1", check=True)
    if not wait_until(lambda: sessions(host) >= HELD, 20, interval=0.05):
        raise RuntimeError(f"the attacker did not get {HELD} sessions: {host.run('cat /run/hold.out').stdout}")


def time_cut(host, action, rounds=ROUNDS, wait=REFERENCE_WAIT):
    """[seconds from the ban to the last session closed, None where they stayed open for `wait` s]."""
    configure(host, action)
    times = []
    for _ in range(rounds):
        hold(host)
        started = time.monotonic()
        host.run(f"fail2ban-client set custom banip {ATTACKER_V4}", check=True)
        closed = wait_until(lambda: sessions(host) == 0, wait, interval=0.02)
        times.append(closed - started if closed else None)
        host.run(f"fail2ban-client set custom unbanip {ATTACKER_V4}; kill $(cat /run/hold.pid) 2>/dev/null;"
                 " sleep 0.2; true")
    return times


def time_flush(host, action, flush, addresses, restart=False, timeout=180):
    """Seconds from the flush until every ban is in force again (with restart: through rc.fail2ban restart)."""
    configure(host, action)
    host.run(f"fail2ban-client set custom banip {' '.join(addresses)} >/dev/null", check=True, timeout=timeout)
    if not wait_until(lambda: in_force(host) >= len(addresses), timeout, interval=0.2):
        raise RuntimeError(f"{action}: the bans did not all reach the firewall")
    # A restart restores from fail2ban's database, which it writes behind the bans.
    wait_until(lambda: int(host.run(DATABASE_COUNT).stdout.strip() or 0) >= len(addresses), timeout, interval=0.5)
    started = time.monotonic()
    host.run(flush, check=True)
    if restart:
        host.run("/etc/rc.d/rc.fail2ban restart", check=True, timeout=timeout)
    back = wait_until(lambda: in_force(host) >= len(addresses), timeout, interval=0.1)
    return back - started if back else None


def run(progress=print, addresses=ADDRESSES, reference_addresses=1000):
    figures = []
    with bench_host() as host:
        host.run(NETWORK, check=True)
        host.run(f"setsid -f {sys.executable} {SINK} /run/sink 25 </dev/null >/run/sink.log 2>&1", check=True)
        wait_until(lambda: host.run("ss -Hltn 'sport = :25'").stdout.strip() != "", 10, interval=0.1)
        progress(f"lapse: ban to the last of {HELD} sessions closed, ours and fail2ban's iptables-allports")
        ours = time_cut(host, OURS_CUT)
        reference = time_cut(host, REFERENCE, rounds=1)
        closed = [value for value in ours if value is not None]
        figures.append(Figure(f"ban to the last of {HELD} idle sessions closed, median of {len(ours)}",
                              median(closed) if len(closed) == len(ours) else None, reference[0], "s",
                              "qmail-f2b-set + qmail-f2b-enforce",
                              "iptables-allports" + ("" if reference[0] else f": still open after {REFERENCE_WAIT} s"),
                              "at most 1 s"))
        scale = addresses / reference_addresses
        for kind, action, flush in FLUSHES:
            progress(f"lapse: {flush}, then {addresses:,} bans back ({kind} set action)")
            value = time_flush(host, action, flush, blocklist(addresses))
            figures.append(Figure(f"flush ({flush.split(';')[0]}) to {addresses:,} bans back ({kind})", value, None,
                                  "s", "qmail-f2b-set, fail2ban untouched", "", "at most 5 s"))
        progress(f"lapse: iptables flush, then rc.fail2ban restart ({reference_addresses:,} bans, iptables-allports)")
        reference = time_flush(host, REFERENCE, FLUSH_IPTABLES, blocklist(reference_addresses), restart=True)
        figures[-1].reference = reference * scale if reference else None
        figures[-1].reference_label = (f"iptables-allports, rc.fail2ban restart, {reference_addresses:,} measured"
                                       f" x{scale:g}")
        progress(f"lapse: iptables flush, our watcher re-bans {reference_addresses:,} with iptables-allports")
        watched = time_flush(host, f"{REFERENCE}\n         qmail-f2b-enforce.py", FLUSH_IPTABLES,
                             blocklist(reference_addresses))
        figures.append(Figure(f"flush to {reference_addresses:,} bans back (fail2ban's iptables-allports)", watched,
                              reference, "s", "qmail-f2b-enforce re-bans, fail2ban untouched",
                              "rc.fail2ban restart"))
    notes = [f"Sessions: {HELD} idle SMTP sessions from {ATTACKER_V4} in the attacker's namespace to a stand-in"
             " server; banned with `fail2ban-client set custom banip`, timed until `ss` on the server lists none"
             " ESTABLISHED.",
             "Flush: the bans given to one banip call, then the firewall flushed as written; timed until the"
             " firewall holds every ban in force again (set elements in a table with its chain, ipset entries an"
             " iptables rule matches, rules in a chain INPUT jumps to). Upstream has no way back but a restart:"
             " the reference is `rc.fail2ban restart` right after the flush.",
             "fail2ban's own iptables-allports runs one process per ban: with qmail-f2b-enforce.py a flush of its"
             " chain is undone by re-banning every address one by one, which is why banaction = iptables takes"
             " the ipset sets wherever ipset is installed."]
    return figures, notes
