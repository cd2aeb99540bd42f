"""Bans waiting to be published, one file each in the spool (paths.FLEET_SPOOL).

fail2ban's action (action.d/qmail-f2b-fleet.py) writes each ban there as it happens, so that a ban is
never lost when the Local API is down; the fleet daemon sends them and removes each once the LAPI has
it. A file holds {"jail": NAME, "ip": ADDRESS-OR-RANGE, "bantime": SECONDS-OR--1, "at": EPOCH}; files
whose name starts with "." are still being written.

No ban is published twice: a sender holds the file's lock while it works on it, and before it sends
one it asks the LAPI whether this host's decision on that address from that jail is already there (a
sender killed between the LAPI's answer and the removal leaves exactly that).
"""

import fcntl
import json
import os
import re
from pathlib import Path

from installer.fleet import lapi as lapi_api
from installer.shared import addresses
from installer.shared.errors import InstallerError

_JAIL = re.compile(r"[A-Za-z0-9_.-]{1,64}", re.ASCII)


def pending(spool):
    """The spool's files, oldest first (their names start with the time they were written)."""
    try:
        names = sorted(name for name in os.listdir(spool) if name.endswith(".json") and not name.startswith("."))
    except FileNotFoundError:
        return []
    return [Path(spool) / name for name in names]


def read(path):
    """(jail, network, bantime seconds or -1) of a spool file; InstallerError for a damaged one."""
    try:
        record = json.loads(Path(path).read_text())
        jail, bantime = record["jail"], int(record["bantime"])
        network = addresses.parse(str(record["ip"]))
    except (OSError, ValueError, KeyError, TypeError, InstallerError) as error:
        raise InstallerError(f"{path}: not a ban fail2ban queued ({error})") from None
    if not isinstance(jail, str) or not _JAIL.fullmatch(jail) or (bantime <= 0 and bantime != -1):
        raise InstallerError(f"{path}: not a ban fail2ban queued (jail {jail!r}, bantime {bantime})")
    return jail, network, bantime


def ignored(network, fleet):
    """The entry of [fleet] ignoreip that network touches, or None."""
    return addresses.overlap(network, addresses.networks(fleet.ignoreip))


class Sender:
    """Sends the spool's bans to the LAPI; says what it did through say(line)."""

    def __init__(self, spool, fleet, lapi, say):
        self.spool, self.fleet, self.lapi, self.say = Path(spool), fleet, lapi, say

    def send_all(self):
        """Sends every pending ban; Unreachable when the LAPI does not answer (the rest wait)."""
        for path in pending(self.spool):
            self.send(path)

    def send(self, path):
        try:
            handle = open(path, "rb")
        except FileNotFoundError:
            return  # another sender took it, or an unban dropped it
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return
            if not path.exists():
                return
            try:
                jail, network, bantime = read(path)
            except InstallerError as error:
                path.rename(path.with_name(f"{path.name}.damaged"))
                self.say(f"set aside {error}")
                return
            value = addresses.spell(network)
            touched = ignored(network, self.fleet)
            if touched is not None:
                self.say(f"not published: {value} ({jail}) is within [fleet] ignoreip {touched}")
            elif self.already_there(jail, network):
                self.say(f"already at the Local API: {value} ({jail})")
            else:
                try:
                    self.lapi.publish([lapi_api.alert(self.fleet.name, jail, network, bantime)])
                except (lapi_api.Unreachable, lapi_api.Refused):
                    raise  # the LAPI, or this host's credentials: every ban waits
                except InstallerError as error:
                    # This one ban: it must not hold up the ones behind it.
                    path.rename(path.with_name(f"{path.name}.refused"))
                    self.say(f"set aside {path.name}.refused: {error}")
                    return
                self.say(f"published {value} ({jail}, {'for ever' if bantime == -1 else f'{bantime} s'})")
            path.unlink()

    def already_there(self, jail, network):
        wanted = (lapi_api.scenario(self.fleet.name, jail), addresses.spell(network))
        return any((decision.get("scenario"), decision.get("value")) == wanted
                   for decision in self.lapi.decisions(network))


def drop(spool, networks):
    """Removes the pending bans of these networks (they were just lifted); the addresses dropped."""
    dropped = []
    for path in pending(spool):
        try:
            _, network, _ = read(path)
        except InstallerError:
            continue
        if network in networks:
            path.unlink(missing_ok=True)
            dropped.append(addresses.spell(network))
    return dropped
