"""crowdsec-firewall-bouncer: enforces the fleet's decisions on this host.

It runs in iptables mode, where its ipsets (hash:net, one per family, a timeout per element) are
matched by one DROP rule: 0.0.25's nftables mode drops a range's prefix and ignores a longer ban of an
address already in its set; the ipset mode does neither. It asks the LAPI for changes every second.
Its configuration holds the bouncer key, so it is written at each start into the fleet daemon's run
folder, readable by root only.

Its DROP rule goes into a chain of ours, not INPUT: INPUT jumps to a guard chain that lets the
addresses this host never bans ([fleet] and [defaults] ignoreip, loopback) go on through INPUT
before it jumps to the bouncer's chain. The bouncer inserts its rule at the top of the chain it is
given, so the guard must be a chain of its own above it. A decision some other host made about the
admin's network is then held, and never enforced here.
"""

import ipaddress
import os
from pathlib import Path

from installer.shared import paths
from installer.shared.run import run

PROGRAM = "crowdsec-firewall-bouncer"
SET4, SET6 = "qf2b-fleet4", "qf2b-fleet6"
CONFIG = f"{paths.FLEET_RUN_DIR}/firewall-bouncer.yaml"
GUARD, CHAIN = "qf2b-fleet-guard", "qf2b-fleet"
TOOLS = {4: "iptables", 6: "ip6tables"}


def config_text(fleet, key):
    return f"""\
# Written by qmail-f2b fleet serve at each start, from {paths.SITE_CONF} ([fleet]) and the bouncer key.
mode: iptables
pid_dir: {paths.FLEET_RUN_DIR}/
update_frequency: 1s
# true: only then does it take its rules and sets away when stopped.
daemonize: true
log_mode: stdout
log_level: info
api_url: {fleet.lapi_url}/
api_key: {key}
insecure_skip_verify: false
disable_ipv6: false
deny_action: DROP
deny_log: false
supported_decisions_types:
  - ban
blacklists_ipv4: {SET4}
blacklists_ipv6: {SET6}
ipset_type: nethash
iptables_chains:
  - {CHAIN}
prometheus:
  enabled: false
"""


def write_config(fleet, key):
    """Writes the configuration (0600) and returns its path."""
    path = Path(CONFIG)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(config_text(fleet, key))
    temporary.replace(path)
    return str(path)


def _iptables(version, *args, check=True):
    return run([TOOLS[version], "-w", *args], check=check, what=f"{TOOLS[version]} {' '.join(args[:2])}")


def remove_guard():
    """Takes the jump, the guard and the bouncer's chain away (what the bouncer left in it too)."""
    for version in TOOLS:
        while _iptables(version, "-D", "INPUT", "-j", GUARD, check=False).returncode == 0:
            pass
        for chain in (GUARD, CHAIN):
            _iptables(version, "-F", chain, check=False)
            _iptables(version, "-X", chain, check=False)


def install_guard(never_banned):
    """INPUT -> guard (RETURN for each never-banned network) -> the bouncer's chain, for both families."""
    remove_guard()
    networks = [ipaddress.ip_network(entry, strict=False) for entry in never_banned]
    for version in TOOLS:
        _iptables(version, "-N", CHAIN)
        _iptables(version, "-N", GUARD)
        for network in networks:
            if network.version == version:
                _iptables(version, "-A", GUARD, "-s", str(network), "-j", "RETURN")
        _iptables(version, "-A", GUARD, "-j", CHAIN)
        _iptables(version, "-I", "INPUT", "1", "-j", GUARD)
