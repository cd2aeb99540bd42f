"""crowdsec-firewall-bouncer: enforces the fleet's decisions on this host.

It runs in iptables mode, where its ipsets (hash:net, one per family, a timeout per element) are
matched by one DROP rule at the top of INPUT: 0.0.25's nftables mode drops a range's prefix and
ignores a longer ban of an address already in its set; the ipset mode does neither. It asks the LAPI
for changes every second. Its configuration holds the bouncer key, so it is written at each start
into the fleet daemon's run folder, readable by root only.
"""

import os
from pathlib import Path

from installer.shared import paths

PROGRAM = "crowdsec-firewall-bouncer"
SET4, SET6 = "qf2b-fleet4", "qf2b-fleet6"
CONFIG = f"{paths.FLEET_RUN_DIR}/firewall-bouncer.yaml"


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
  - INPUT
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
