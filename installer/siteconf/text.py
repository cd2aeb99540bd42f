"""site.conf as text: what the first run writes, commented, from Settings."""

from installer.shared.addresses import LOOPBACK
from installer.shared.paths import FLEET_CREDENTIALS, SITE_CONF
from installer.siteconf.jails import definition

HEADER = f"""\
# {SITE_CONF}: the one place to configure qmail-fail2ban.
# ./install checks it and writes from it /etc/fail2ban/jail.local, fail2ban.local and
# action.d/sendmail-common.local: change a value here, then run ./install again.
# Times take fail2ban's forms: 3600 (seconds), 10m, 1h, 1d, 1w, 180d.
"""


def _port_text(jail):
    return ", ".join(str(port) for port in jail.port) if jail.port else "all"


def _jail_text(jail):
    known = definition(jail.name)
    lines = [f"    # {known.note}", f"    [[{jail.name}]]",
             f"    enabled = {'yes' if jail.enabled else 'no'}"]
    if jail.logpath is not None:
        lines.append(f"    logpath = {jail.logpath}")
    lines.append(f"    port = {_port_text(jail)}")
    inherited = []
    for key in ("maxretry", "findtime", "bantime"):
        if key != "bantime" and not known.reads_log:
            continue
        value = getattr(jail, key)
        if value is None:
            inherited.append(key)
        else:
            lines.append(f"    {key} = {value}")
    if inherited:
        lines.append(f"    # {', '.join(inherited)}: from [defaults]")
    return "\n".join(lines) + "\n"


def _fleet_text(fleet):
    head = """
# Sharing bans with the fleet's other mail hosts through CrowdSec's Local API (README: Fleet).
# role: none (this host keeps its bans to itself), lapi (runs the Local API for the fleet, and
# shares), member (shares). credentials is a folder (0700, root) of NAME.password and
# NAME.bouncer-key (0600, root); on the lapi host, one pair for every host of the fleet.
# ignoreip: never banned fleet-wide (the admin's networks); loopback always is.
[fleet]
"""
    if fleet is None:
        return head + f"""role = none
# name = this host's short name
# lapi_url = http://192.0.2.1:8080
# credentials = {FLEET_CREDENTIALS}
# ignoreip = 198.51.100.0/24
"""
    return head + f"""role = {fleet.role}
name = {fleet.name}
lapi_url = {fleet.lapi_url}
credentials = {fleet.credentials}
ignoreip = {', '.join(fleet.ignoreip)}
"""


def to_text(settings):
    """A commented site.conf that loads back as exactly these settings."""
    return HEADER + f"""
# Where ban reports go (sendmail-whois), and the address they come from.
[alerts]
dest = {settings.dest}
sender = {settings.sender}

# What every jail uses unless its own section says otherwise.
[defaults]
# Addresses and networks never banned; {' and '.join(LOOPBACK)} are always among them.
ignoreip = {', '.join(settings.ignoreip)}
# maxretry failures within findtime earn a ban of bantime.
maxretry = {settings.maxretry}
findtime = {settings.findtime}
bantime = {settings.bantime}
# The firewall: iptables, nftables, ipset (iptables with ipset sets), or auto
# (decided at install time: iptables where it works, otherwise nftables).
banaction = {settings.banaction}
""" + _fleet_text(settings.fleet) + """
# One section per jail. port is the ports banned (or all); a key left out
# takes its value from [defaults]; a log that does not exist yet is created empty.
[jails]
""" + "\n".join(_jail_text(jail) for jail in settings.jails)
