"""qmail-f2b's day-to-day commands: bans, status, ban, unban, log.

Each takes the fail2ban Client and returns a Report; a problem raises InstallerError with one
line, before anything is changed.
"""

import os
from pathlib import Path

from installer.shared import addresses
from installer.shared.errors import InstallerError
from installer.shared.paths import FAIL2BAN_LOG, SITE_CONF
from installer.siteconf.jails import MANUAL_JAIL
from installer.tool import logtail
from installer.tool.report import Report

# fail2ban's logtarget values that are not files.
NOT_FILES = ("SYSLOG", "SYSTEMD-JOURNAL", "STDOUT", "STDERR")


def _count(status, key):
    value = status.get(key, "0")
    return int(value) if value.isascii() and value.isdigit() else 0


def bans(client):
    from installer.tool import fleet
    banned = client.banned()
    lines = [f"Banned in {jail}: {' '.join(ips)}" for jail, ips in banned.items() if ips]
    lines = lines or ["No IPs have been banned"]
    try:
        shared = fleet.configured()
    except InstallerError as error:
        return Report(banned, lines + [f"Fleet bans unknown: {error}"])
    if shared is not None:
        rows, fleet_lines = fleet.fleet_bans(shared)
        banned = {**banned, "fleet": rows}
        lines += fleet_lines
    return Report(banned, lines)


def _jail_status(client, jail):
    status = client.jail_status(jail)
    return {
        "currently_failed": _count(status, "Currently failed"),
        "total_failed": _count(status, "Total failed"),
        "currently_banned": _count(status, "Currently banned"),
        "total_banned": _count(status, "Total banned"),
        "log_files": status.get("File list", "").split(),
        "banned": status.get("Banned IP list", "").split(),
    }


def status(client, jail=None):
    running = client.jails()
    if jail is not None and jail not in running:
        raise InstallerError(f"no jail named {jail!r} is running; the jails are: {', '.join(running) or 'none'}")
    found = {name: _jail_status(client, name) for name in ([jail] if jail else running)}
    rows = [("JAIL", "FAILED NOW/TOTAL", "BANNED NOW/TOTAL", "LOG FILES")]
    for name, jail_status in found.items():
        rows.append((name, f"{jail_status['currently_failed']}/{jail_status['total_failed']}",
                     f"{jail_status['currently_banned']}/{jail_status['total_banned']}",
                     " ".join(jail_status["log_files"]) or "-"))
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    lines = [f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:>{widths[2]}}  {row[3]}" for row in rows]
    if not found:
        lines.append("No jail is running")
    return Report(found, lines)


def never_banned(client):
    """Every network an ignoreip of the configuration or of the manual-ban jail protects, and loopback."""
    configuration = client.configuration()
    entries = list(addresses.LOOPBACK) + client.ignoreip(MANUAL_JAIL)
    for jail in configuration.jails():
        entries += configuration.values(jail, "addignoreip")
    return addresses.networks(entries)


def ban(client, arguments, force=False, environ=os.environ):
    networks = [addresses.parse(argument) for argument in arguments]
    for network in networks:
        addresses.check_width(network, force)
    if MANUAL_JAIL not in client.jails():
        raise InstallerError(f"the {MANUAL_JAIL} jail, which holds manual bans, is not running: enable"
                             f" [[{MANUAL_JAIL}]] in {SITE_CONF} and run ./install again")
    protected = never_banned(client)
    admin = addresses.ssh_client(environ)
    for network in networks:
        addresses.check_bannable(network, protected, admin, force)
    spelled = list(dict.fromkeys(addresses.spell(network) for network in networks))
    before = set(client.banned().get(MANUAL_JAIL, []))
    already = [address for address in spelled if address in before]
    count = client.ban(MANUAL_JAIL, spelled)
    lines = [f"Banned {MANUAL_JAIL} IP: {count}"]
    if already:
        lines.append(f"Already banned in {MANUAL_JAIL}: {' '.join(already)}")
    return Report({"jail": MANUAL_JAIL, "banned": count, "addresses": spelled, "already_banned": already}, lines)


def unban(client, arguments, local=False):
    from installer.tool import fleet
    wanted = list(dict.fromkeys(addresses.parse(argument) for argument in arguments))
    # Read before any ban is lifted: a site.conf that cannot be read stops the unban, fleet or not.
    shared = fleet.configured()
    banned = client.banned()
    unbanned, found = {}, set()
    for jail, entries in banned.items():
        hits = [entry for entry in entries if _network(entry) in wanted]
        if hits:
            unbanned[jail] = client.unban(jail, hits)
            found.update(_network(entry) for entry in hits)
    missing = [network for network in wanted if network not in found]
    lines = [f"Unbanned IP from {jail}: {count}" for jail, count in unbanned.items()]
    lines += [f"{addresses.spell(network)} was not banned in any jail{_covering(network, banned)}"
              for network in missing]
    data = {"unbanned": unbanned, "not_banned": [addresses.spell(network) for network in missing]}
    status = 0
    if shared is not None:
        data["fleet"], fleet_lines, status = fleet.lift(shared, wanted, local)
        lines += fleet_lines
    return Report(data, lines, status)


def _network(entry):
    try:
        return addresses.parse(entry)
    except InstallerError:
        return None


def _covering(network, banned):
    """Where a range that holds network is banned: unbanning the address alone does not free it."""
    for jail, entries in banned.items():
        for entry in entries:
            other = _network(entry)
            if other is not None and other != network and addresses.overlap(network, [other]):
                return f", but {entry} is banned in {jail}: unban that"
    return ""


def log_file(client):
    """The file fail2ban logs to, as its configuration says."""
    target = client.configuration().server("logtarget", FAIL2BAN_LOG)
    if target.upper() in NOT_FILES:
        raise InstallerError(f"fail2ban logs to {target}, not to a file (logtarget in fail2ban.local):"
                             " read it there")
    return Path(target)


def log(client, lines=50):
    """The end of fail2ban's log; the report's data names the file, which --follow goes on reading."""
    path = log_file(client)
    if not path.is_file():
        raise InstallerError(f"{path} does not exist: fail2ban has not logged anything yet")
    try:
        shown = logtail.last_lines(path, lines)
    except OSError as error:
        raise InstallerError(f"cannot read {path}: {error.strerror}") from None
    return Report({"log": str(path), "lines": shown}, shown)
