"""Start fail2ban at boot: lines in Slackware's rc.local and rc.local_shutdown, or a systemd unit."""

from pathlib import Path

from installer.pipeline.payload import Entry
from installer.pipeline.place import target_state
from installer.shared.paths import RC_SCRIPT

RC_LOCAL = "etc/rc.d/rc.local"
RC_LOCAL_SHUTDOWN = "etc/rc.d/rc.local_shutdown"
HOOKS = {
    RC_LOCAL: f"if [ -x {RC_SCRIPT} ]; then {RC_SCRIPT} start; fi",
    RC_LOCAL_SHUTDOWN: f"if [ -x {RC_SCRIPT} ]; then {RC_SCRIPT} stop; fi",
}
HEADER = "#!/bin/sh\n#\n# /{name}: local {what} commands.\n"
UNIT = "etc/systemd/system/fail2ban.service"
UNIT_LINK = "etc/systemd/system/multi-user.target.wants/fail2ban.service"


def boots_with_systemd(root):
    """A host booted by systemd (sd_booted: /run/systemd/system) without Slackware's rc.local gets a unit."""
    root = Path(root)
    return not (root / RC_LOCAL).exists() and (root / "run/systemd/system").is_dir()


def systemd_entries(build_tree):
    """fail2ban's own unit as its setup.py generated it, and the link that enables it."""
    unit = Path(build_tree) / "build" / "fail2ban.service"
    return [Entry(UNIT, "file", unit.read_bytes(), 0o644),
            Entry(UNIT_LINK, "link", target="/" + UNIT)]


def _header(relative):
    what = "start-up" if relative == RC_LOCAL else "shutdown"
    return HEADER.format(name=relative, what=what)


def add_hooks(transaction, manifest):
    """Append our line to each rc file once, creating the file (executable) when it is missing."""
    for relative, line in HOOKS.items():
        path = transaction.path(relative)
        kind, _ = target_state(path)
        if kind == "missing":
            transaction.write(relative, (_header(relative) + line + "\n").encode(), 0o755)
            manifest["created"].append(relative)
        else:
            text = path.read_text()
            if line not in text.splitlines():
                text += ("" if text.endswith("\n") or not text else "\n") + line + "\n"
                transaction.write(relative, text.encode(), path.stat().st_mode & 0o7777)
        manifest["hooks"][relative] = [line]


def remove_hooks(transaction, manifest):
    """Take out exactly our lines; a file we created that holds nothing else goes too."""
    for relative, lines in manifest["hooks"].items():
        path = transaction.path(relative)
        if not path.is_file():
            continue
        text = path.read_text()
        kept = [existing for existing in text.splitlines(keepends=True) if existing.rstrip("\n") not in lines]
        remaining = "".join(kept)
        if relative in manifest["created"] and remaining == _header(relative):
            transaction.remove(relative)
        elif remaining != text:
            transaction.write(relative, remaining.encode(), path.stat().st_mode & 0o7777)
