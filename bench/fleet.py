"""A ban shared across the fleet: from one host's ban to the other hosts' firewalls.

On the fleet lab (tests/support/fleet.py, tests/support/fleetmail.py): three real installs in throwaway
hosts on one bridge, mail-a running the Local API, every host running fail2ban and the fleet daemon with
crowdsec-firewall-bouncer. 20 attackers each fail 10 IMAP logins on mail-b (its Dovecot log); timed per
attacker and per other host, from the moment the address is in mail-b's jail set to the moment it is in
that host's bouncer set (both polled every 20 ms inside the hosts, on the one clock they share). The
reference: the same 20 addresses given straight to the LAPI as decisions (by mail-a, as a machine), timed
from the LAPI's answer to the bouncer sets: what the bouncer's 1 s poll alone costs, which the publishing
adds to.
"""

import statistics
import time

from bench.common import Figure, tarball
from tests.support.fleet import ATTACKERS
from tests.support.fleetmail import FLEET_SETS, Watch, failures, installed_fleet, jail_sets, publish_as

OTHERS = ("mail-a", "mail-c")
WATCH_FOR = 30
GOAL = 2.0


def p95(values):
    return statistics.quantiles(values, n=20)[-1]


def delays(watches, start):
    """Seconds from start[address] to each address's arrival in each watched host's sets."""
    found = []
    for watch in watches:
        seen = watch.collect()["first"]
        missing = sorted(set(start) - set(seen))
        if missing:
            raise RuntimeError(f"{len(missing)} addresses never reached {watch.host}: {missing[:3]}")
        found += [seen[address] - start[address] for address in start]
    return found


def run(progress=print):
    ours_addresses, reference_addresses = list(ATTACKERS[:20]), [f"198.51.100.{n}" for n in range(100, 120)]
    with installed_fleet(tarball()) as lab:
        progress("fleet: 20 attackers on mail-b")
        on_b = Watch(lab.hosts["mail-b"], jail_sets(), ours_addresses, WATCH_FOR)
        watches = [Watch(lab.hosts[name], FLEET_SETS, ours_addresses, WATCH_FOR) for name in OTHERS]
        for address in ours_addresses:
            failures(lab.hosts["mail-b"], address)
        ours = delays(watches, on_b.collect()["first"])
        progress("fleet: 20 decisions given straight to the LAPI (the reference)")
        watches = [Watch(lab.hosts[name], FLEET_SETS, reference_addresses, WATCH_FOR) for name in OTHERS]
        given = {}
        for address in reference_addresses:
            publish_as(lab, "mail-a", "bench", address, 600)
            given[address] = time.time()
        reference = delays(watches, given)
    label = "mail-b's ban to mail-a's and mail-c's bouncer sets, 40 samples"
    figures = [
        Figure("fleet propagation, median", statistics.median(ours), statistics.median(reference), "s", label,
               "decision given to the LAPI to the same sets"),
        Figure("fleet propagation, p95", p95(ours), p95(reference), "s", label,
               "decision given to the LAPI to the same sets", goal=f"<= {GOAL:.0f} s"),
        Figure("fleet propagation, max", max(ours), max(reference), "s", label,
               "decision given to the LAPI to the same sets"),
    ]
    notes = ["Three throwaway hosts on one bridge (the fleet lab); the bouncers poll the LAPI every second, so"
             " both columns carry that poll's wait (0 to 1 s). Ours adds fail2ban's ban action, the spool and the"
             " fleet daemon's send (it looks at the spool every 0.1 s). The reference is timed from the LAPI's"
             " answer to mail-a's publish, so it leaves out one HTTP request that ours includes."]
    return figures, notes
