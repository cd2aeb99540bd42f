"""The fleet's credentials: files of root's that no one else may read, one secret each.

    NAME.password      the password of machine NAME at the Local API (publishes and lifts bans)
    NAME.bouncer-key   the API key of NAME's firewall bouncer (reads the decisions)

A host needs its own pair; the lapi host holds every host's pair and registers them all.
"""

import os
import re
import stat
from pathlib import Path

from installer.shared.errors import InstallerError

PASSWORD = "password"
BOUNCER_KEY = "bouncer-key"
# Printable ASCII without spaces or quotes: secrets go into YAML and JSON as they are.
_SECRET = re.compile(r"[A-Za-z0-9!#$%&()*+,./:;<=>?@^_{|}~-]{16,128}", re.ASCII)


def _check_private(path, kind, allowed_mode):
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise InstallerError(f"{path} does not exist") from None
    except OSError as error:
        raise InstallerError(f"cannot read {path}: {error.strerror}") from None
    wanted = stat.S_ISDIR if kind == "folder" else stat.S_ISREG
    if stat.S_ISLNK(info.st_mode) or not wanted(info.st_mode):
        raise InstallerError(f"{path} must be a {kind} (not a link or anything else)")
    if info.st_uid != 0 or info.st_mode & 0o077:
        raise InstallerError(f"{path} must be root's and closed to everyone else (chown root {path};"
                             f" chmod {allowed_mode:o} {path}); it is uid {info.st_uid}, mode"
                             f" {stat.S_IMODE(info.st_mode):o}")


def secret(folder, name, kind):
    """The one-line secret in folder/NAME.kind, after checking that only root can read it."""
    _check_private(folder, "folder", 0o700)
    path = Path(folder) / f"{name}.{kind}"
    _check_private(path, "file", 0o600)
    lines = path.read_text(errors="replace").splitlines()
    value = lines[0].strip() if len(lines) == 1 else ""
    if not _SECRET.fullmatch(value):
        raise InstallerError(f"{path} must hold one line: 16 to 128 printable characters without spaces or quotes")
    return value


def own(fleet):
    """(password, bouncer key) of this host."""
    return secret(fleet.credentials, fleet.name, PASSWORD), secret(fleet.credentials, fleet.name, BOUNCER_KEY)


def every_host(fleet):
    """{name: (password, bouncer key)} of every host the lapi host's folder holds a pair for."""
    _check_private(fleet.credentials, "folder", 0o700)
    names = {}
    for path in sorted(Path(fleet.credentials).iterdir()):
        for kind in (PASSWORD, BOUNCER_KEY):
            suffix = f".{kind}"
            if path.name.endswith(suffix) and len(path.name) > len(suffix):
                names.setdefault(path.name[:-len(suffix)], set()).add(kind)
    incomplete = sorted(name for name, kinds in names.items() if len(kinds) != 2)
    if incomplete:
        name = incomplete[0]
        missing = PASSWORD if PASSWORD not in names[name] else BOUNCER_KEY
        raise InstallerError(f"{Path(fleet.credentials) / f'{name}.{missing}'} is missing: each host of the fleet"
                             f" needs {name}.{PASSWORD} and {name}.{BOUNCER_KEY}")
    if fleet.name not in names:
        raise InstallerError(f"{Path(fleet.credentials) / f'{fleet.name}.{PASSWORD}'} is missing: this host is"
                             " in the fleet too")
    return {name: (secret(fleet.credentials, name, PASSWORD), secret(fleet.credentials, name, BOUNCER_KEY))
            for name in sorted(names)}
