"""Everything an install puts on the root, as a list of entries computed before anything is written."""

import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from installer.digest import sha256_bytes

SOURCE_DIR = "usr/local/src"


@dataclass
class Entry:
    path: str                 # relative to the root, e.g. "etc/fail2ban/jail.local"
    kind: str                 # "file", "link" or "dir"
    data: bytes = b""
    mode: int = 0o644
    target: str = ""          # for links

    @property
    def sha256(self):
        return sha256_bytes(self.data)

    @property
    def is_config(self):
        """Files under etc/ are the admin's to edit: never overwritten once changed (the .new rule)."""
        return self.path.startswith("etc/")


def data_dir():
    """Where the files that land on hosts are: the checkout, or the installed package's share folder."""
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "rc.d").is_dir():
        return checkout
    return Path(sys.prefix) / "share" / "qmail-fail2ban"


def tree_entries(top, prefix=""):
    """Entries for every folder, file and link under top, placed at prefix/relative-path."""
    entries = []
    top = Path(top)
    for folder, dirs, files in os.walk(top):
        dirs.sort()
        for name in sorted(dirs) + sorted(files):
            path = Path(folder) / name
            relative = (Path(prefix) / path.relative_to(top)).as_posix()
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                entries.append(Entry(relative, "link", target=os.readlink(path)))
            elif stat.S_ISDIR(info.st_mode):
                entries.append(Entry(relative, "dir", mode=0o755))
            elif stat.S_ISREG(info.st_mode):
                mode = 0o755 if info.st_mode & stat.S_IXUSR else 0o644
                entries.append(Entry(relative, "file", path.read_bytes(), mode))
    return entries


TOOL_LIBRARY = "usr/lib/qmail-fail2ban"
TOOL = "usr/sbin/qmail-f2b"
TOOL_SCRIPT = """#!{python}
# qmail-f2b: see and manage fail2ban bans on this host (installed by qmail-fail2ban's ./install).
import sys
sys.dont_write_bytecode = True  # nothing appears beside the files ./install recorded
sys.path.insert(0, "/{library}")
from installer.cli import main
sys.exit(main())
"""


def tool(python):
    """qmail-f2b and the package it runs, so the tool works after the checkout is gone."""
    package = Path(__file__).resolve().parent
    entries = [Entry(TOOL, "file", TOOL_SCRIPT.format(python=python, library=TOOL_LIBRARY).encode(), 0o755)]
    for path in sorted(package.iterdir()):
        if path.suffix in (".py", ".spec") and path.is_file():
            entries.append(Entry(f"{TOOL_LIBRARY}/installer/{path.name}", "file", path.read_bytes(), 0o644))
    return entries


def ours(rendered):
    """Our own files: the repo's static ones plus those rendered from the site configuration."""
    base = data_dir()
    entries = [Entry("etc/rc.d/rc.fail2ban", "file", (base / "rc.d/rc.fail2ban").read_bytes(), 0o755),
               Entry("etc/logrotate.d/fail2ban", "file", (base / "logrotate.d/fail2ban").read_bytes(), 0o644)]
    for folder in ("filter.d", "action.d"):
        for path in sorted((base / folder).glob("*")):
            relative = f"etc/fail2ban/{folder}/{path.name}"
            if path.is_file() and relative not in rendered:
                entries.append(Entry(relative, "file", path.read_bytes(), 0o644))
    for relative, data in sorted(rendered.items()):
        entries.append(Entry(relative, "file", data, 0o644))
    return entries
