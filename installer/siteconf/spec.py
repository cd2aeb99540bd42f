"""The configspec of site.conf (configobj + validate), made from the jail table.

Check names are the functions in checks.CHECKS. A jail key whose default is None takes its value
from [defaults]; a jail that reads no log has no log, maxretry or findtime to set. Every jail is
listed, so that an unknown jail name is an error.
"""

from installer.shared.paths import FLEET_CREDENTIALS
from installer.siteconf.jails import JAILS

GENERAL = f"""\
[alerts]
dest = email(default=root@localhost)
sender = email(default=fail2ban@localhost)

[defaults]
ignoreip = addresses(default=list())
maxretry = retries(default=6)
findtime = duration(default=1w)
bantime = duration(default=1w)
banaction = banaction(default=iptables)

[fleet]
role = fleet_role(default=none)
name = fleet_name(default="")
lapi_url = lapi_url(default="")
credentials = folder(default={FLEET_CREDENTIALS})
ignoreip = addresses(default=list())

[jails]
"""


def _default_list(values):
    return f"list({', '.join(str(value) for value in values)})" if values else "all"


def _jail_spec(jail):
    lines = [f"    [[{jail.name}]]", f"    enabled = switch(default={'yes' if jail.enabled else 'no'})"]
    if jail.reads_log:
        lines.append(f"    logpath = logpath(default={jail.logpath})")
    lines.append(f"    port = ports(default={_default_list(jail.ports)})")
    if jail.reads_log:
        lines.append(f"    maxretry = retries(default={jail.maxretry})")
        lines.append(f"    findtime = duration(default={jail.findtime})")
    lines.append(f"    bantime = duration(default={jail.bantime})")
    return lines


def spec_lines():
    lines = GENERAL.splitlines()
    for jail in JAILS:
        lines += _jail_spec(jail)
    return lines
