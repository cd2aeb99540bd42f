"""qmail-f2b's day-to-day commands: bans, status, ban, unban, log.

Each takes the fail2ban Client and prints plain text, or JSON for scripts; a problem raises
InstallerError with one line, before anything is changed.
"""

import json
import os
import re
from pathlib import Path

from installer import addresses, logtail
from installer.errors import InstallerError
from installer.siteconf import SITE_CONF

MANUAL_JAIL = "custom"
# fail2ban's logtarget values that are not files.
NOT_FILES = ("SYSLOG", "SYSTEMD-JOURNAL", "STDOUT", "STDERR")


def _print_json(data):
    print(json.dumps(data, indent=2))


def _count(status, key):
    value = status.get(key, "0")
    return int(value) if re.fullmatch(r"[0-9]+", value) else 0


def bans(client, as_json=False):
    banned = client.banned()
    if as_json:
        _print_json(banned)
        return 0
    lines = [f"Banned in {jail}: {' '.join(ips)}" for jail, ips in banned.items() if ips]
    print("\n".join(lines) if lines else "No IPs have been banned")
    return 0


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


def status(client, jail=None, as_json=False):
    running = client.jails()
    if jail is not None and jail not in running:
        raise InstallerError(f"no jail named {jail!r} is running; the jails are: {', '.join(running) or 'none'}")
    found = {name: _jail_status(client, name) for name in ([jail] if jail else running)}
    if as_json:
        _print_json(found)
        return 0
    rows = [("JAIL", "FAILED NOW/TOTAL", "BANNED NOW/TOTAL", "LOG FILES")]
    for name, jail_status in found.items():
        rows.append((name, f"{jail_status['currently_failed']}/{jail_status['total_failed']}",
                     f"{jail_status['currently_banned']}/{jail_status['total_banned']}",
                     " ".join(jail_status["log_files"]) or "-"))
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    for row in rows:
        print(f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:>{widths[2]}}  {row[3]}")
    if not found:
        print("No jail is running")
    return 0


def never_banned(client):
    """Every network an ignoreip of the configuration or of the manual-ban jail protects, and loopback."""
    configuration = client.configuration()
    entries = list(addresses.LOOPBACK) + client.ignoreip(MANUAL_JAIL)
    for jail in configuration.jails():
        entries += configuration.values(jail, "addignoreip")
    return addresses.networks(entries)


def ban(client, arguments, force=False, as_json=False, environ=os.environ):
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
    if as_json:
        _print_json({"jail": MANUAL_JAIL, "banned": count, "addresses": spelled, "already_banned": already})
        return 0
    print(f"Banned {MANUAL_JAIL} IP: {count}")
    if already:
        print(f"Already banned in {MANUAL_JAIL}: {' '.join(already)}")
    return 0


def unban(client, arguments, as_json=False):
    wanted = list(dict.fromkeys(addresses.parse(argument) for argument in arguments))
    banned = client.banned()
    unbanned, found = {}, set()
    for jail, entries in banned.items():
        hits = [entry for entry in entries if _network(entry) in wanted]
        if hits:
            unbanned[jail] = client.unban(jail, hits)
            found.update(_network(entry) for entry in hits)
    missing = [network for network in wanted if network not in found]
    if as_json:
        _print_json({"unbanned": unbanned, "not_banned": [addresses.spell(network) for network in missing]})
        return 0
    for jail, count in unbanned.items():
        print(f"Unbanned IP from {jail}: {count}")
    for network in missing:
        print(f"{addresses.spell(network)} was not banned in any jail{_covering(network, banned)}")
    return 0


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
    target = client.configuration().server("logtarget", "/var/log/fail2ban.log")
    if target.upper() in NOT_FILES:
        raise InstallerError(f"fail2ban logs to {target}, not to a file (logtarget in fail2ban.local):"
                             " read it there")
    return Path(target)


def log(client, lines=50, follow=False, as_json=False):
    path = log_file(client)
    if not path.is_file():
        raise InstallerError(f"{path} does not exist: fail2ban has not logged anything yet")
    try:
        shown = logtail.last_lines(path, lines)
    except OSError as error:
        raise InstallerError(f"cannot read {path}: {error.strerror}") from None
    if as_json:
        _print_json({"log": str(path), "lines": shown})
        return 0
    for line in shown:
        print(line)
    if follow:
        try:
            logtail.follow(path, lambda line: print(line, flush=True))
        except KeyboardInterrupt:
            return 0
    return 0
