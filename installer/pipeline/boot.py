"""Start fail2ban at boot: lines in Slackware's rc.local and rc.local_shutdown, or a systemd unit; and
run qmail-f2b's watchdog every minute and its weekly report: lines in root's crontab (Slackware's
dcron), or a file in /etc/cron.d where that is the host's convention."""

from pathlib import Path

from installer.pipeline.payload import Entry
from installer.pipeline.place import target_state
from installer.shared.paths import CRON_D, FLEET_RC_SCRIPT, RC_SCRIPT, ROOT_CRONTAB, TOOL, is_host_root, relative

RC_LOCAL = "etc/rc.d/rc.local"
RC_LOCAL_SHUTDOWN = "etc/rc.d/rc.local_shutdown"
# fail2ban first at start and last at stop; the fleet daemon (which does nothing on a host outside a
# fleet) shares its bans, so it goes up after it and down before it.
HOOKS = {
    RC_LOCAL: [f"if [ -x {RC_SCRIPT} ]; then {RC_SCRIPT} start; fi",
               f"if [ -x {FLEET_RC_SCRIPT} ]; then {FLEET_RC_SCRIPT} start; fi"],
    RC_LOCAL_SHUTDOWN: [f"if [ -x {FLEET_RC_SCRIPT} ]; then {FLEET_RC_SCRIPT} stop; fi",
                        f"if [ -x {RC_SCRIPT} ]; then {RC_SCRIPT} stop; fi"],
}
# The admin's own firewall script, Slackware's way: rc.inet2 runs it before rc.M runs rc.local, so
# fail2ban, started at the end of rc.local, comes after it. An admin who runs it from rc.local
# instead gets our line moved below theirs: a firewall script that flushes the rules would take
# fail2ban's out just after they went in (qmail-f2b-enforce.py and qmail-f2b-set.py put them back
# within seconds, but no sooner).
FIREWALL_SCRIPT = "rc.firewall"
HEADER = "#!/bin/sh\n#\n# /{name}: local {what} commands.\n"
# Every minute: start fail2ban when it stopped answering (it mails the admin itself, so cron need not).
# Mondays at 07:00: last week's bans to the admin.
CRON_JOBS = (("* * * * *", f"{TOOL} watchdog"), ("0 7 * * 1", f"{TOOL} report --mail --days 7"))
CRON_FILE = f"{relative(CRON_D)}/qmail-fail2ban"
ROOT_CRONTAB_UPDATE = f"{Path(ROOT_CRONTAB).parent}/cron.update"
CRON_HEADER = {
    CRON_FILE: "# /etc/cron.d/qmail-fail2ban: qmail-f2b's watchdog and weekly report (qmail-fail2ban's ./install).\n"
               "SHELL=/bin/sh\nPATH=/usr/sbin:/usr/bin:/sbin:/bin\n",
    relative(ROOT_CRONTAB): "",
}
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


def _header(name):
    if name in CRON_HEADER:
        return CRON_HEADER[name]
    what = "start-up" if name == RC_LOCAL else "shutdown"
    return HEADER.format(name=name, what=what)


def _add_lines(transaction, manifest, name, lines, mode):
    """Append the lines to the file once each, creating it (with mode) when it is missing; whether it changed."""
    path = transaction.path(name)
    kind, _ = target_state(path)
    changed = True
    if kind == "missing":
        transaction.write(name, (_header(name) + "".join(line + "\n" for line in lines)).encode(), mode)
        if name not in manifest["created"]:
            manifest["created"].append(name)
    else:
        original = path.read_text()
        text = _without_starts_before_firewall(original, lines) if name == RC_LOCAL else original
        missing = [line for line in lines if line not in text.splitlines()]
        if missing:
            text += ("" if text.endswith("\n") or not text else "\n") + "".join(line + "\n" for line in missing)
        changed = text != original
        if changed:
            transaction.write(name, text.encode(), path.stat().st_mode & 0o7777)
    manifest["hooks"][name] = list(lines)
    return changed


def _without_starts_before_firewall(text, ours):
    """rc.local without those of our start lines that a line running rc.firewall follows (they go back at
    the end)."""
    lines = text.splitlines(keepends=True)
    bare = [existing.rstrip("\n") for existing in lines]
    firewall_lines = [index for index, existing in enumerate(bare)
                      if FIREWALL_SCRIPT in existing and not existing.lstrip().startswith("#")]
    if not firewall_lines:
        return text
    last_firewall = firewall_lines[-1]
    return "".join(existing for index, existing in enumerate(lines)
                   if not (bare[index] in ours and index < last_firewall))


def add_hooks(transaction, manifest):
    """Append our line to each rc file once, creating the file (executable) when it is missing; in
    rc.local it goes below any line that runs rc.firewall."""
    for name, lines in HOOKS.items():
        _add_lines(transaction, manifest, name, lines, 0o755)


def cron_target(root):
    """(file, lines) for our jobs: root's crontab, the Slackware way, unless the host keeps no crontabs
    folder but has /etc/cron.d (Debian and most others), whose lines name the user."""
    root = Path(root)
    crontab = relative(ROOT_CRONTAB)
    if not (root / crontab).parent.is_dir() and (root / relative(CRON_D)).is_dir():
        return CRON_FILE, [f"{when} root {command} >/dev/null 2>&1" for when, command in CRON_JOBS]
    return crontab, [f"{when} {command} >/dev/null 2>&1" for when, command in CRON_JOBS]


def tell_dcron(root):
    """dcron rereads a crontab at once only when crontab(1) names it in crontabs/cron.update (else at
    its hourly rescan): the live host's crond is told the same way. Not part of the transaction: crond
    removes the file, and rereading an unchanged crontab after a rollback is harmless."""
    if is_host_root(root):
        with open(Path(root) / relative(ROOT_CRONTAB_UPDATE), "a") as update:
            update.write("root\n")


def add_cron_jobs(transaction, manifest, root):
    """Our jobs in root's crontab or /etc/cron.d, recorded as hooks: uninstall takes exactly them out.
    A crontab is root's alone (0600)."""
    name, lines = cron_target(root)
    if _add_lines(transaction, manifest, name, lines, 0o644 if name == CRON_FILE else 0o600) and name != CRON_FILE:
        tell_dcron(root)


def remove_hooks(transaction, manifest):
    """Take out exactly our lines; a file we created that holds nothing else goes too."""
    if relative(ROOT_CRONTAB) in manifest["hooks"] and transaction.path(relative(ROOT_CRONTAB)).is_file():
        tell_dcron(transaction.root)
    for name, lines in manifest["hooks"].items():
        path = transaction.path(name)
        if not path.is_file():
            continue
        text = path.read_text()
        kept = [existing for existing in text.splitlines(keepends=True) if existing.rstrip("\n") not in lines]
        remaining = "".join(kept)
        if name in manifest["created"] and remaining == _header(name):
            transaction.remove(name)
        elif remaining != text:
            transaction.write(name, remaining.encode(), path.stat().st_mode & 0o7777)
