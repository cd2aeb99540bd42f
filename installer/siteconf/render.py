"""Settings -> the files fail2ban reads: jail.local, fail2ban.d/qmail-fail2ban.conf, action.d/sendmail-common.local.

`python3 -m installer.siteconf.render --examples` rewrites the checkout's jail.local.example and
action.d/sendmail-common.local from the defaults (a test keeps them in sync).
"""

import sys
from pathlib import Path

from installer.fleet import crowdsec
from installer.shared import firewall, paths
from installer.shared.addresses import LOOPBACK
from installer.shared.durations import positive_seconds
from installer.shared.errors import InstallerError
from installer.shared.paths import SITE_CONF
from installer.siteconf import hostaddrs
from installer.siteconf.jails import definition
from installer.siteconf.settings import defaults

JAIL_LOCAL = "etc/fail2ban/jail.local"
# A .conf in fail2ban.d: read before fail2ban.local, which stays the admin's (rc.fail2ban copies
# /etc/qmail-fail2ban/fail2ban-fail2ban.cf there), so the admin's override always wins.
FAIL2BAN_LOCAL = "etc/fail2ban/fail2ban.d/qmail-fail2ban.conf"
SENDMAIL_COMMON_LOCAL = "etc/fail2ban/action.d/sendmail-common.local"

# banaction -> fail2ban's actions for (some ports, every port).
ACTIONS = {
    "iptables": ("iptables-multiport", "iptables-allports"),
    "nftables": ("nftables-multiport", "nftables-allports"),
    "ipset": ("iptables-ipset-proto6", "iptables-ipset-proto6-allports"),
}
# Our jails keep their bans in firewall sets loaded in batches (action.d/qmail-f2b-set.py) where the
# firewall has sets: 5,000 bans and their restore at start take seconds, not a minute.
SET_ACTION = "qmail-f2b-set.py"
# Shortens fail2ban's wait between finding an attacker and running the firewall action.
WAKE_ACTION = "qmail-f2b-wake.py"
# Ends a banned client's open sessions, and puts fail2ban's own firewall actions back, bans
# included, when a firewall reload removed them.
ENFORCE_ACTION = "qmail-f2b-enforce.py"
# Queues every ban for the fleet's Local API ([fleet] in site.conf).
FLEET_ACTION = f"qmail-f2b-fleet.py[spool={paths.FLEET_SPOOL}]"


def resolved_banaction(banaction, root):
    """The banaction itself, or for auto the firewall that works under root (iptables first)."""
    if banaction != "auto":
        return banaction
    working = firewall.listing_firewalls(root)
    for candidate in ("iptables", "nftables"):
        if candidate in working:
            return candidate
    raise InstallerError("banaction = auto: neither `iptables -S` nor `nft list ruleset` works on"
                         f" this host; install one of them or set banaction in {SITE_CONF}")


def missing_log_folders(settings, root):
    """{jail name: folder} for enabled jails whose log cannot be created: its folder is absent.

    Such a jail is rendered disabled, since a jail without its log stops fail2ban from starting.
    """
    missing = {}
    for jail in settings.jails:
        if jail.enabled and jail.logpath:
            log_file = Path(root) / jail.logpath.lstrip("/")
            if not log_file.exists() and not log_file.parent.is_dir():
                missing[jail.name] = str(Path(jail.logpath).parent)
    return missing


def missing_jail_logs(settings, root=Path("/")):
    """Absolute paths of the logs that enabled jails read and that are missing under root.

    root is where the install lands: / on a real host, the staging folder otherwise (pass
    the same root as to render). The installer creates these empty; those whose folder is
    absent are left out, as render() disables their jail instead (missing_log_folders).
    """
    skipped = missing_log_folders(settings, root)
    return [jail.logpath for jail in settings.jails
            if jail.enabled and jail.logpath and jail.name not in skipped
            and not (Path(root) / jail.logpath.lstrip("/")).exists()]


def _header(path):
    return (f"# /{path}: written by qmail-fail2ban from {SITE_CONF}.\n"
            f"# Change that file and run ./install again rather than editing this one.\n")


def set_firewall(banaction, has_ipset):
    """The firewall our set action uses for a banaction, or None: fail2ban's own per-address rules.

    banaction = iptables takes it too wherever ipset is installed: iptables rules that match an
    ipset are still iptables, and loaded in batches, 5,000 bans take seconds rather than a minute.
    """
    if banaction == "iptables":
        return "ipset" if has_ipset else None
    return banaction if banaction in ("nftables", "ipset") else None


def _firewall_action(jail, banaction, has_ipset):
    ports = ",".join(str(port) for port in jail.port)
    set_kind = set_firewall(banaction, has_ipset)
    if set_kind:
        return f'{SET_ACTION}[firewall={set_kind}' + (f', port="{ports}"' if ports else "") + ", protocol=tcp]"
    multiport, allports = ACTIONS[banaction]
    if jail.all_ports:
        return f"{allports}[name={jail.name}, protocol=tcp]"
    return f'{multiport}[name={jail.name}, port="{ports}", protocol=tcp]'


def _jail_section(jail, banaction, missing_folder, has_ipset, fleet=None):
    firewall_action = _firewall_action(jail, banaction, has_ipset)
    lines = [f"# {definition(jail.name).note}"]
    if banaction == "iptables" and has_ipset:
        lines.append("# banaction iptables: one iptables rule per family matching an ipset set, loaded in batches.")
    if missing_folder:
        lines.append(f"# Disabled although {SITE_CONF} enables it: {missing_folder} does not exist.")
    lines += [f"[{jail.name}]",
              f"enabled = {'true' if jail.enabled and not missing_folder else 'false'}",
              f"filter = {definition(jail.name).filter}"]
    if jail.logpath:
        lines.append(f"logpath = {jail.logpath}")
    lines += [f"{key} = {getattr(jail, key)}" for key in ("maxretry", "findtime", "bantime")
              if getattr(jail, key) is not None]
    lines.append(f"action = {firewall_action}")
    if jail.name != "custom":
        # The admin makes manual bans: no mail about them (a 5,000-address blocklist would send 5,000).
        lines.append(f'         sendmail-whois[name={jail.name}, sendername="Fail2Ban {jail.name}"]')
    lines.append(f"         {WAKE_ACTION}")
    lines.append(f"         {ENFORCE_ACTION}")
    if fleet:
        lines.append(f"         {FLEET_ACTION}")
    return "\n".join(lines) + "\n"


def jail_local(settings, banaction, missing, own_addresses=(), log_backend="auto", has_ipset=False):
    multiport, allports = ACTIONS[banaction]
    set_note = ""
    if banaction == "iptables":
        set_note = ("# site.conf: banaction = iptables. With ipset installed, as here, the jails below keep their\n"
                    "# bans in ipsets matched by iptables rules (qmail-f2b-set.py); without it, one rule each.\n"
                    if has_ipset else
                    "# site.conf: banaction = iptables, one rule per ban: ipset is not installed (qmail-f2b doctor).\n")
    ignored = list(settings.ignoreip) + [address for address in own_addresses if address not in settings.ignoreip]
    own_note = (f"\n# and this host's own addresses, as found at install: {' '.join(own_addresses)}"
                if own_addresses else "")
    defaults_section = f"""\
[DEFAULT]
# Never banned: {' and '.join(LOOPBACK)} always are{own_note}.
ignoreip = {' '.join(ignored)}
maxretry = {settings.maxretry}
findtime = {settings.findtime}
bantime = {settings.bantime}
# Trust addresses only: a host name in a log line is the client's to choose.
usedns = no
# How jails watch their logs: pyinotify is woken by the kernel; auto takes it where it imports.
backend = {log_backend}
# fail2ban 1.1.1 would move a jail whose log is missing to the systemd journal, which these services
# do not write to (older releases do not read this). A missing log stays an error that fail2ban
# reports and qmail-f2b doctor names, as with every release.
systemd_if_nologs = false
{set_note}# The firewall of any other jail (jail.d/*.local) that does not name its own action.
banaction = {multiport}
banaction_allports = {allports}
"""
    sections = [_jail_section(jail, banaction, missing.get(jail.name), has_ipset, settings.fleet)
                for jail in settings.jails]
    return "\n".join([_header(JAIL_LOCAL), defaults_section] + sections)


def longest_bantime(settings, missing):
    """The longest bantime any jail can give (with the jail's name, or DEFAULT)."""
    candidates = [(settings.bantime, "DEFAULT")]
    candidates += [(jail.bantime or settings.bantime, jail.name) for jail in settings.jails
                   if jail.enabled and jail.name not in missing]
    return max(candidates, key=lambda candidate: positive_seconds(candidate[0]))


def fail2ban_local(settings, missing):
    bantime, jail = longest_bantime(settings, missing)
    return _header(FAIL2BAN_LOCAL) + f"""
[Definition]
# Bans are kept in fail2ban's database and restored at start: keep them at least as long
# as the longest bantime ({jail}), so that every ban survives a restart.
dbpurgeage = {bantime}
# Said explicitly, as fail2ban 1.0 warns at every start when it is left unset.
allowipv6 = auto
"""


def sendmail_common_local(settings):
    return _header(SENDMAIL_COMMON_LOCAL) + f"""
# [alerts]: where the jails' sendmail-whois reports go, and the address they come from.
[Init]
dest = {settings.dest}
sender = {settings.sender}
"""


def render(settings, root, log_backend="auto"):
    """{path relative to the root: content} for the files rendered from settings.

    root is where the install lands: banaction = auto is resolved by probing its firewall
    tools, and an enabled jail whose log folder is absent there is rendered disabled.
    log_backend is how the jails watch their logs (installer.pipeline.logwatch says which works).
    """
    banaction = resolved_banaction(settings.banaction, root)
    missing = missing_log_folders(settings, root)
    # A staged root is not this host: its addresses are not the staged host's.
    own = hostaddrs.own_addresses() if paths.is_host_root(root) else ()
    has_ipset = firewall.find_tool(root, "ipset") is not None
    texts = {
        JAIL_LOCAL: jail_local(settings, banaction, missing, own, log_backend, has_ipset),
        FAIL2BAN_LOCAL: fail2ban_local(settings, missing),
        SENDMAIL_COMMON_LOCAL: sendmail_common_local(settings),
    }
    rendered = {path: text.encode("utf-8") for path, text in texts.items()}
    rendered.update(crowdsec.rendered(settings.fleet))
    return rendered


def examples():
    """{checkout path: content}: what the defaults render, as if every log were there and ipset installed."""
    settings = defaults()
    return {
        "jail.local.example": jail_local(settings, settings.banaction, {}, has_ipset=True).encode("utf-8"),
        "action.d/sendmail-common.local": sendmail_common_local(settings).encode("utf-8"),
    }


def main(argv):
    if argv != ["--examples"]:
        print("usage: python3 -m installer.siteconf.render --examples", file=sys.stderr)
        return 2
    checkout = paths.PACKAGE_PARENT
    for name, data in examples().items():
        (checkout / name).write_bytes(data)
        print(f"wrote {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
