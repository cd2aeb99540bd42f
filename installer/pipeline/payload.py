"""Everything an install puts on the root, as a list of entries computed before anything is written."""

import ast
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from installer.shared import paths
from installer.shared.digest import sha256_bytes


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
    if (paths.PACKAGE_PARENT / "rc.d").is_dir():
        return paths.PACKAGE_PARENT
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


TOOL_SCRIPT = """#!{python}
# qmail-f2b: see and manage fail2ban bans on this host (installed by qmail-fail2ban's ./install).
import sys
sys.dont_write_bytecode = True  # nothing appears beside the files ./install recorded
sys.path.insert(0, "{library}")
from {module} import main
sys.exit(main())
"""
TOOL_MODULE = "installer.tool.cli"


def _module_file(name):
    """The source file of a module of this package ("installer.tool.cli"), or None for another package's."""
    if name != "installer" and not name.startswith("installer."):
        return None
    base = paths.PACKAGE_PARENT.joinpath(*name.split("."))
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(source):
    """The modules a module's source imports, anywhere in it (imports inside functions too), and the
    names `from X import name` takes, which may be modules too. The lint refuses relative imports."""
    for node in ast.walk(ast.parse(source.read_text(), str(source))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def shipped_modules(top=TOOL_MODULE):
    """{module name: file} of the tool and everything of this package it imports, with the __init__
    of every package on the way: what the host needs to run qmail-f2b, and nothing of the pipeline."""
    wanted, found = [top], {}
    while wanted:
        name = wanted.pop()
        source = _module_file(name)
        if name in found or source is None:
            continue
        found[name] = source
        parts = name.split(".")
        wanted += [".".join(parts[:length]) for length in range(1, len(parts))]
        wanted += imported_modules(source)
    return found


def tool(python):
    """qmail-f2b and the modules it runs, so the tool works after the checkout is gone."""
    entries = [Entry(paths.relative(paths.TOOL), "file",
                     TOOL_SCRIPT.format(python=python, library=paths.TOOL_LIBRARY, module=TOOL_MODULE).encode(),
                     0o755)]
    for source in sorted(set(shipped_modules().values())):
        relative = source.relative_to(paths.PACKAGE_PARENT).as_posix()
        entries.append(Entry(f"{paths.relative(paths.TOOL_LIBRARY)}/{relative}", "file", source.read_bytes(), 0o644))
    return entries


def host_files(rendered):
    """The files of ours that configure the host: the repo's static ones (rc.d/, logrotate.d/,
    filter.d/, action.d/) plus those rendered from the site configuration."""
    base = data_dir()
    entries = [Entry(paths.relative(paths.RC_SCRIPT), "file", (base / "rc.d/rc.fail2ban").read_bytes(), 0o755),
               Entry(paths.relative(paths.FLEET_RC_SCRIPT), "file",
                     (base / "rc.d" / Path(paths.FLEET_RC_SCRIPT).name).read_bytes(), 0o755),
               Entry(paths.relative(paths.LOGROTATE_SCRIPT), "file", (base / "logrotate.d/fail2ban").read_bytes(),
                     0o644)]
    for folder in ("filter.d", "action.d"):
        for path in sorted((base / folder).glob("*")):
            relative = f"{paths.relative(paths.CONFIG_DIR)}/{folder}/{path.name}"
            if path.is_file() and relative not in rendered:
                entries.append(Entry(relative, "file", path.read_bytes(), 0o644))
    for relative, data in sorted(rendered.items()):
        entries.append(Entry(relative, "file", data, 0o644))
    return entries
