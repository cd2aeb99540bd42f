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
# The admin's own firewall script, Slackware's way: rc.inet2 runs it before rc.M runs rc.local, so
# fail2ban, started at the end of rc.local, comes after it. An admin who runs it from rc.local
# instead gets our line moved below theirs: a firewall script that flushes the rules would take
# fail2ban's out just after they went in (qmail-f2b-enforce.py and qmail-f2b-set.py put them back
# within seconds, but no sooner).
FIREWALL_SCRIPT = "rc.firewall"
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


def _without_start_before_firewall(text, line):
    """rc.local without our start line when a line running rc.firewall follows it (it goes back at the end)."""
    lines = text.splitlines(keepends=True)
    bare = [existing.rstrip("\n") for existing in lines]
    if line not in bare:
        return text
    later = bare[bare.index(line) + 1:]
    if any(FIREWALL_SCRIPT in existing and not existing.lstrip().startswith("#") for existing in later):
        return "".join(existing for existing in lines if existing.rstrip("\n") != line)
    return text


def add_hooks(transaction, manifest):
    """Append our line to each rc file once, creating the file (executable) when it is missing; in
    rc.local it goes below any line that runs rc.firewall."""
    for relative, line in HOOKS.items():
        path = transaction.path(relative)
        kind, _ = target_state(path)
        if kind == "missing":
            transaction.write(relative, (_header(relative) + line + "\n").encode(), 0o755)
            manifest["created"].append(relative)
        else:
            text = path.read_text()
            if relative == RC_LOCAL:
                text = _without_start_before_firewall(text, line)
            if line not in text.splitlines():
                text += ("" if text.endswith("\n") or not text else "\n") + line + "\n"
            if text != path.read_text():
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
