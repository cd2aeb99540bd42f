"""Ban latency: from three failure lines written to a qmail-smtpd log to the address in the firewall.

Jails of one real server in a throwaway host read the same kind of log with our qmail-smtp filter:
one with the backend ./install configured (jail.local's, or fail2ban's `auto`) and our actions as
jail.local gives them (the set action and qmail-f2b-wake.py), the reference with `backend = polling`;
then fail2ban's own nftables-multiport action, as every jail with a command action (banaction =
iptables, the default) runs it, with and without qmail-f2b-wake.py. `nft monitor` stamps the
moment the address reaches the kernel.
A random pause before each address spreads the writes over fail2ban's wake-up cycle, as real attacks are.
"""

import random
import re
import time
from pathlib import Path

from bench.common import Figure, Monitor, bench_host, median, percentile

ADDRESSES = 20
FAILURES = 3
TIMEOUT = 10
# fail2ban's threads look for work on a cycle of 2 s (Utils.DEFAULT_SLEEP_TIME): pauses spread over
# one whole cycle meet it at every phase, as attacks arriving at any moment do.
PAUSE, CYCLE = 0.2, 2.0
WAKE = "\n         qmail-f2b-wake.py"
OUR_ACTIONS = 'qmail-f2b-set.py[firewall=nftables, port="25"]' + WAKE
FAIL2BANS_ACTION = 'nftables-multiport[name={}, port="25", protocol=tcp]'
# jail: (the addresses it bans, its backend line, its actions)
JAILS = {
    "bench-fast": ("203.0.113.", "", OUR_ACTIONS),
    "bench-poll": ("198.51.100.", "backend = polling\n", OUR_ACTIONS),
    "bench-woken": ("2001:db8::", "", FAIL2BANS_ACTION.format("bench-woken") + WAKE),
    "bench-plain": ("192.0.2.", "", FAIL2BANS_ACTION.format("bench-plain")),
}

JAIL = """[{name}]
enabled = true
filter = qmail-smtp
logpath = {log}
{backend}maxretry = {failures}
findtime = 1h
bantime = 1h
action = {action}
"""


def tai64n(moment):
    """multilog's stamp: 2^62 + Unix seconds, then nanoseconds, in hex (fail2ban reads it as UTC)."""
    seconds = int(moment)
    return f"@{2**62 + seconds:016x}{int((moment - seconds) * 1e9):08x}"


def failures(address):
    stamp = tai64n(time.time())
    return "".join(f"{stamp} qmail-smtpd: read failed: (null) from {address} to (null) helo (null)\n"
                   for _ in range(FAILURES))


def configured_backend(host):
    """The backend jail.local gives our jails; fail2ban's default, auto, where it names none."""
    found = re.search(r"^backend\s*=\s*(\S+)", host.run("cat /etc/fail2ban/jail.local").stdout, re.M)
    return found.group(1) if found else "auto"


def backend_in_use(host, jail):
    found = re.search(rf"Jail '{jail}' uses (\w+)", host.run("cat /var/log/fail2ban.log").stdout)
    return {"poller": "polling"}.get(found.group(1), found.group(1)) if found else "unknown"


def latencies(host, monitor, jail, log, chooser):
    found = []
    for index in range(1, ADDRESSES + 1):
        address = f"{JAILS[jail][0]}{index}"
        time.sleep(chooser.uniform(PAUSE, PAUSE + CYCLE))
        started = time.monotonic()
        with open(log, "a") as file:
            file.write(failures(address))
        pattern = re.compile(rf"^add (element|rule) .*(?<![\d.]){re.escape(address)}(?![\d.])")
        deadline = started + TIMEOUT
        while time.monotonic() < deadline:
            seen = monitor.first(pattern, started)
            if seen:
                found.append(seen - started)
                break
            time.sleep(0.005)
    return found


def run(progress=print, scratch="/tmp"):
    chooser = random.Random(8)
    with bench_host(pyinotify=True) as host:
        configured = configured_backend(host)
        logs = {}
        sections = []
        for jail, (_, backend, action) in JAILS.items():
            log = Path(scratch) / f"{jail}.log"
            log.write_text("")
            logs[jail] = log
            sections.append(JAIL.format(name=jail, log=log, backend=backend, failures=FAILURES, action=action))
        host.run(f"cat > /etc/fail2ban/jail.d/zz-bench.local <<'EOF'\n{''.join(sections)}EOF", check=True)
        host.run("/etc/rc.d/rc.fail2ban start", check=True, timeout=120)
        in_use = backend_in_use(host, "bench-fast")
        monitor = Monitor(host)
        try:
            measured = {}
            for jail in JAILS:
                progress(f"ban latency: {jail}")
                measured[jail] = latencies(host, monitor, jail, logs[jail], chooser)
        finally:
            monitor.close()
        pyinotify_note = ("python3-pyinotify installed in the throwaway host first, as an admin would"
                          if host.pyinotify else "pyinotify could not be had here: both jails poll")
    fast, poll, plain = measured["bench-fast"], measured["bench-poll"], measured["bench-plain"]
    woken = measured["bench-woken"]
    label = f"backend {configured}: {in_use}"
    figures = [
        Figure("ban latency, median", median(fast) if fast else None, median(poll) if poll else None, "s",
               label, "polling", "at most 0.3 s"),
        Figure("ban latency, p95", percentile(fast, 0.95) if fast else None,
               percentile(poll, 0.95) if poll else None, "s", label, "polling"),
        Figure("ban latency, median, fail2ban's own action (as with banaction = iptables)",
               median(woken) if woken else None, median(plain) if plain else None, "s",
               f"{in_use}, nftables-multiport + qmail-f2b-wake", f"{in_use}, nftables-multiport alone",
               "at most 0.3 s"),
        Figure("ban latency, median, our set action against fail2ban's", median(fast) if fast else None,
               median(plain) if plain else None, "s", f"{in_use}, qmail-f2b-set + qmail-f2b-wake",
               f"{in_use}, nftables-multiport alone"),
    ]
    notes = [f"{ADDRESSES} addresses per backend, {FAILURES} failure lines each (maxretry {FAILURES}), written in one"
             " write to a multilog-style log read by our qmail-smtp filter; timed until `nft monitor` shows the"
             " address added. Both backends run our actions as jail.local gives them: qmail-f2b-set (nftables)"
             " and qmail-f2b-wake, which wakes fail2ban's actions thread every 0.2 s instead of up to every 2 s."
             " The last rows use fail2ban's own nftables-multiport, the kind of action every command-action"
             " banaction runs, with and without qmail-f2b-wake (IPv6 documentation addresses for the former)."
             f" Bans seen: {len(fast)}, {len(poll)}, {len(woken)} and {len(plain)} of {ADDRESSES}.",
             f"{pyinotify_note}; jail.local says backend {configured}, and fail2ban chose {in_use}."]
    return figures, notes
