"""Server start, reload and stop with every one of our jails enabled, through rc.fail2ban.

The reference is the peers' way on the same server and the same number of jails: fail2ban's own
filters for the same services (and sshd, postfix, ...) with its iptables-multiport action, started,
reloaded and stopped with plain fail2ban-client calls as SlackBuilds.org's rc.fail2ban does.
Ours also tests the configuration first (fail2ban-client -t) and mails at start and stop.
"""

import re
import time

from bench.common import Figure, bench_host, median

REPEATS = 3
REFERENCE_JAILS = {
    "sshd": "22", "dovecot": "110,995,143,993", "roundcube-auth": "80,443", "postfix": "25,465,587",
    "sendmail-auth": "25,465,587", "courier-auth": "110,995,143,993", "exim": "25,465,587", "recidive": "",
}
REFERENCE_JAIL_LOCAL = """[DEFAULT]
usedns = no
banaction = iptables-multiport
banaction_allports = iptables-allports
"""


def reference_jail_local():
    sections = [REFERENCE_JAIL_LOCAL]
    for name, ports in REFERENCE_JAILS.items():
        action = (f'iptables-multiport[name={name}, port="{ports}", protocol=tcp]' if ports
                  else f"iptables-allports[name={name}, protocol=tcp]")
        sections.append(f"[{name}]\nenabled = true\nlogpath = /var/log/bench-reference/{name}.log\n"
                        f"action = {action}\n")
    return "\n".join(sections)


def timed(host, command):
    started = time.monotonic()
    host.run(command, check=True, timeout=120)
    return time.monotonic() - started


def cycles(host, start, reload, stop):
    """Median seconds of start, reload and stop over REPEATS cycles, and the jails that ran."""
    starts, reloads, stops, jails = [], [], [], 0
    for _ in range(REPEATS):
        starts.append(timed(host, start))
        status = host.run("fail2ban-client status").stdout
        found = re.search(r"Number of jail:\s*(\d+)", status)
        jails = int(found.group(1)) if found else 0
        reloads.append(timed(host, reload))
        stops.append(timed(host, stop))
    return median(starts), median(reloads), median(stops), jails


def run(progress=print):
    with bench_host(every_jail=True) as host:
        progress("server: our jails, rc.fail2ban")
        rc = "/etc/rc.d/rc.fail2ban"
        ours = cycles(host, f"{rc} start", f"{rc} reload", f"{rc} stop")
        progress("server: fail2ban's own jails, fail2ban-client")
        host.run("mkdir -p /var/log/bench-reference && cd /var/log/bench-reference && touch "
                 + " ".join(f"{name}.log" for name in REFERENCE_JAILS), check=True)
        host.run(f"cat > /etc/fail2ban/jail.local <<'EOF'\n{reference_jail_local()}EOF", check=True)
        client = "fail2ban-client"
        reference = cycles(host, f"{client} -x start", f"{client} reload", f"{client} stop")
    label, reference_label = f"{ours[3]} jails, rc.fail2ban", f"{reference[3]} jails, fail2ban-client"
    figures = [Figure(f"server {verb}", ours[index], reference[index], "s", label, reference_label)
               for index, verb in enumerate(("start", "reload", "stop"))]
    notes = [f"Medians of {REPEATS} start/reload/stop cycles on one throwaway host; start ends when the server"
             " answers, stop when it has gone. Our jails keep the sendmail-whois mail action ./install renders"
             " (sendmail fails fast in the throwaway host)."]
    return figures, notes
