"""qmail-f2b watchdog: run by cron every minute so that nobody learns by accident that protection stopped.
In a fleet it also starts the fleet daemon where it is not running (which shares this host's bans and
enforces the other hosts'), and mails the admin the same way.

Where fail2ban is meant to run (rc.fail2ban is executable, the Slackware switch) and its server does
not answer, it tests the configuration, starts the server through rc.fail2ban and mails the admin
once per incident what it found and did. When the server cannot be started it mails the reason
once an hour, not every minute, until it answers again. Every run also refreshes the metrics
textfile where one is configured, so that a scrape sees f2b_up 0 within the minute.
"""

import fcntl
import json
import os
import time

from installer.shared import paths
from installer.shared.errors import InstallerError
from installer.shared.run import last_meaningful_line, run
from installer.tool import logtail, mail, metrics
from installer.tool.report import Report

REMIND_EVERY = 3600
START_TIMEOUT = 180
# How long a started server may take to answer on its socket, and to restore its bans.
ANSWER_WAIT = 30
RESTORE_WAIT = 10
LOG_LINES_MAILED = 15


def load_state(root):
    return metrics.watchdog_state(root)


def save_state(root, state):
    path = paths.under(root, paths.WATCHDOG_STATE)
    scratch = path.with_name(path.name + ".new")
    scratch.write_text(json.dumps(state, indent=2) + "\n")
    os.replace(scratch, path)


def wait_until(probe, seconds):
    deadline = time.monotonic() + seconds
    while True:
        if probe():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.5)


def recent_log(root):
    try:
        return logtail.last_lines(paths.under(root, paths.FAIL2BAN_LOG), LOG_LINES_MAILED)
    except OSError:
        return []


def _stamp(seconds):
    return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(seconds))


def _banned_after_restart(client):
    """The bans the restarted server holds once its jails came up (they restore from the database)."""
    counts = {}

    def restored():
        try:
            counts.update({jail: len(bans) for jail, bans in client.banned().items()})
        except InstallerError:
            return False
        return bool(counts)
    wait_until(restored, RESTORE_WAIT)
    return counts


def _mail(subject, body, root, lines):
    try:
        lines.append(f"mailed {mail.send(subject, body, root)}: {subject}")
        return True
    except InstallerError as error:
        lines.append(f"could not mail the admin: {error}")
        return False


def restart(client, root, state, now, lines):
    """The server does not answer: test the configuration, start it, and say so to the admin."""
    rc_script = paths.under(root, paths.RC_SCRIPT)
    incident = state.get("incident") or {"since": now, "mailed": None}
    found = f"fail2ban-server did not answer on its socket at {_stamp(now)}"
    try:
        client.test_config()
        result = run([rc_script, "start"], check=False, timeout=START_TIMEOUT, what=f"{paths.RC_SCRIPT} start")
        if wait_until(client.is_running, ANSWER_WAIT):
            counts = _banned_after_restart(client)
            state["last_action"] = {"action": "restarted", "time": now}
            state.pop("incident", None)
            lines.append(f"fail2ban was not answering: started it with {paths.RC_SCRIPT} start")
            body = "\n".join([
                f"{found}.",
                f"The watchdog tested the configuration and started it with {paths.RC_SCRIPT} start;",
                f"it answers again. Bans restored from the database: {sum(counts.values())}"
                f" ({', '.join(f'{jail} {count}' for jail, count in counts.items()) or 'no jails'}).",
                "",
                "The end of fail2ban's log:",
                *recent_log(root),
            ])
            _mail("fail2ban was down and has been restarted", body, root, lines)
            return
        reason = (last_meaningful_line(result.stderr) or last_meaningful_line(result.stdout)
                  or "it still does not answer")
        problem = f"{paths.RC_SCRIPT} start did not bring it back: {reason}"
    except InstallerError as error:
        problem = str(error)
    state["last_action"] = {"action": "start_failed", "time": now}
    lines.append(f"fail2ban is not answering and cannot be started: {problem}")
    if incident.get("mailed") is None or now - incident["mailed"] >= REMIND_EVERY:
        body = "\n".join([
            f"{found} (down since {_stamp(incident['since'])}).",
            "The watchdog could not start it, so no address is being banned:",
            f"  {problem}",
            f"Fix that, then run {paths.RC_SCRIPT} start (qmail-f2b doctor says what is wrong).",
            "This reminder comes once an hour until fail2ban answers again.",
            "",
            "The end of fail2ban's log:",
            *recent_log(root),
        ])
        if _mail("fail2ban is down and cannot be started", body, root, lines):
            incident["mailed"] = now
    state["incident"] = incident


def fleet_daemon(root, state, now, lines):
    """Where site.conf has a fleet and rc.qmail-f2b-fleet is executable, start a daemon that is not running."""
    from installer.fleet import daemon
    from installer.tool import fleet
    rc_script = paths.under(root, paths.FLEET_RC_SCRIPT)
    try:
        shared = fleet.configured(root)
    except InstallerError:
        return  # doctor says what is wrong with site.conf; there is no fleet to start from it
    if shared is None or not os.access(rc_script, os.X_OK) or daemon.running_pid():
        if state.pop("fleet_incident", None):
            lines.append("the fleet daemon runs again")
        return
    incident = state.get("fleet_incident") or {"since": now, "mailed": None}
    result = run([rc_script, "start"], check=False, timeout=START_TIMEOUT, what=f"{paths.FLEET_RC_SCRIPT} start")
    if result.returncode == 0 and wait_until(lambda: daemon.running_pid() is not None, ANSWER_WAIT):
        state.pop("fleet_incident", None)
        lines.append(f"the fleet daemon was not running: started it with {paths.FLEET_RC_SCRIPT} start")
        _mail("the fleet daemon was down and has been restarted",
              f"The fleet daemon was not running at {_stamp(now)}: this host's bans were not shared and the"
              f" fleet's were not enforced here.\nThe watchdog started it with {paths.FLEET_RC_SCRIPT} start."
              f"\nIts log: {paths.FLEET_LOG}", root, lines)
        return
    problem = last_meaningful_line(result.stderr) or last_meaningful_line(result.stdout) or "it did not start"
    lines.append(f"the fleet daemon is not running and cannot be started: {problem}")
    if incident.get("mailed") is None or now - incident["mailed"] >= REMIND_EVERY:
        if _mail("the fleet daemon is down and cannot be started",
                 f"The fleet daemon is not running (since {_stamp(incident['since'])}) and"
                 f" {paths.FLEET_RC_SCRIPT} start did not bring it back:\n  {problem}\n"
                 "qmail-f2b doctor says what is wrong. This reminder comes once an hour.", root, lines):
            incident["mailed"] = now
    state["fleet_incident"] = incident


def install_at_work(root):
    """Whether an ./install run holds its lock: it stops and starts fail2ban itself (an upgrade restarts it
    and, where the new release fails, puts the old one's database back before starting it)."""
    try:
        descriptor = os.open(paths.under(root, paths.LOCK), os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(descriptor)
    return False


def watchdog(client, root="/", now=None):
    now = time.time() if now is None else now
    lines = []
    state_dir = paths.under(root, paths.STATE_DIR)
    if not state_dir.is_dir():
        raise InstallerError(f"{paths.STATE_DIR} does not exist: run ./install first")
    # Cron starts a run every minute; a start that takes longer must not be joined by a second one.
    with open(state_dir / "watchdog.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return Report({"action": "none", "busy": True}, ["another watchdog run is at work"])
        state = load_state(root)
        before = json.dumps(state, sort_keys=True)
        action = "none"
        if not os.access(paths.under(root, paths.RC_SCRIPT), os.X_OK):
            lines.append(f"{paths.RC_SCRIPT} is not executable: fail2ban is meant to stay down; nothing done")
        elif install_at_work(root):
            lines.append(f"./install is at work (it holds {paths.LOCK}) and starts fail2ban itself; nothing done")
        elif client.is_running():
            if state.pop("incident", None):
                lines.append("fail2ban answers again")
            else:
                lines.append("fail2ban answers")
        else:
            restart(client, root, state, now, lines)
            action = state["last_action"]["action"]
        if not install_at_work(root):
            fleet_daemon(root, state, now, lines)
        if json.dumps(state, sort_keys=True) != before:
            save_state(root, state)
    try:
        written = metrics.refresh_textfile(client, root)
        if written:
            lines.append(f"refreshed {written}")
    except (InstallerError, OSError) as error:
        lines.append(f"could not refresh the metrics textfile: {getattr(error, 'strerror', None) or error}")
    return Report({"action": action, "state": state}, lines)
