"""qmail-f2b metrics: fail2ban's state in Prometheus' text exposition format.

The f2b_* series carry the names, types, help texts and labels of the widely used fail2ban
exporter (hectorjsmith/fail2ban-prometheus-exporter), so that its Grafana dashboard works
unchanged; the qmail_f2b_* series say what that exporter cannot see: how long since a jail last
matched a line (a log that stopped growing, or a filter that stopped matching), whether the
firewall holds every ban, the database's size and the watchdog's last action.

With --textfile DIR the text goes to DIR/qmail_f2b.prom for node_exporter's textfile collector,
written beside it and renamed over it so that node_exporter never reads half a file.
"""

import json
import os
import re
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

from installer.shared import paths
from installer.shared.durations import seconds_or_for_ever
from installer.shared.errors import InstallerError
from installer.tool import holdings, logtail
from installer.tool.report import Report

# The exporter's version label: ours, as it is not that exporter.
EXPORTER = "qmail-f2b"
STATUS_WORKERS = 4
# Enough of fail2ban's log to find each jail's last match without reading a large log whole.
SCANNED_LOG_LINES = 50000
# fail2ban's log: "2024-01-02 10:00:00,123 fail2ban.filter  [12]: INFO    [dovecot] Found 192.0.2.9 - ...".
FOUND_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),\d+ .*?\[([^\]\s]+)\] Found ")


def _escape(value):
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Exposition:
    """The text, one family (HELP, TYPE, samples) at a time, as the format wants them grouped."""

    def __init__(self):
        self.lines = []

    def family(self, name, kind, help_text, samples):
        """samples: [(labels dict, value)]; a family without samples is left out."""
        if not samples:
            return
        self.lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        for labels, value in samples:
            shown = ",".join(f'{key}="{_escape(text)}"' for key, text in labels.items())
            number = int(value) if float(value).is_integer() else round(float(value), 3)
            self.lines.append(f"{name}{{{shown}}} {number}" if shown else f"{name} {number}")

    def text(self):
        return "\n".join(self.lines) + "\n"


def _count(status, key):
    value = status.get(key, "0")
    return int(value) if value.isascii() and value.isdigit() else 0


def last_matches(log_path, jails):
    """{jail: the time (epoch seconds) of its last `Found` in fail2ban's log}, from the log's end."""
    try:
        lines = logtail.last_lines(log_path, SCANNED_LOG_LINES)
    except OSError:
        return {}
    found = {}
    for line in reversed(lines):
        match = FOUND_LINE.match(line)
        if match and match.group(2) in jails and match.group(2) not in found:
            found[match.group(2)] = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S").timestamp()
            if len(found) == len(jails):
                break
    return found


def database_path(configuration):
    dbfile = str(configuration.server("dbfile", paths.FAIL2BAN_DB)) if configuration else paths.FAIL2BAN_DB
    return None if dbfile in ("None", ":memory:") else Path(dbfile)


def watchdog_state(root="/"):
    try:
        return json.loads(paths.under(root, paths.WATCHDOG_STATE).read_text())
    except (OSError, ValueError):
        return {}


def collect(client, root="/"):
    """Everything the exposition says, as data (also what --json prints)."""
    data = {"up": False, "version": None, "jails": {}, "database_bytes": None, "watchdog": watchdog_state(root)}
    try:
        configuration = client.configuration()
    except InstallerError:
        configuration = None
    database = database_path(configuration)
    if database is not None and paths.under(root, database).is_file():
        data["database_bytes"] = paths.under(root, database).stat().st_size
    if not client.is_running():
        return data
    data["up"] = True
    try:
        data["version"] = client.call("version").stdout.strip()
        banned = client.banned()
        # One fail2ban-client process per jail: a few at once keep a scrape within seconds.
        with ThreadPoolExecutor(max_workers=STATUS_WORKERS) as pool:
            statuses = dict(zip(banned, pool.map(client.jail_status, banned)))
        for jail, status in statuses.items():
            data["jails"][jail] = {
                "failed_current": _count(status, "Currently failed"), "failed_total": _count(status, "Total failed"),
                "banned_current": _count(status, "Currently banned"), "banned_total": _count(status, "Total banned"),
            }
    except InstallerError:
        # The server went away while being asked: what was read stands, and it counts as down.
        data["up"] = False
        return data
    if configuration is not None:
        for jail, held in holdings.holdings(root, configuration, banned).items():
            if jail not in data["jails"]:
                continue
            values = data["jails"][jail]
            for key in ("bantime", "findtime", "maxretry"):
                seconds = seconds_or_for_ever(configuration.value(jail, key, ""))
                values[key] = seconds
            values["firewall_held"] = None if held.held is None else len(held.held)
            values["firewall_missing"] = None if held.held is None or not held.stores else len(held.missing)
        log_target = str(configuration.server("logtarget", paths.FAIL2BAN_LOG))
        if log_target.startswith("/"):
            now = time.time()
            for jail, when in last_matches(paths.under(root, log_target), set(data["jails"])).items():
                data["jails"][jail]["last_match_seconds"] = max(0.0, now - when)
    return data


def exposition(data):
    out = Exposition()
    jails = data["jails"]

    def per_jail(key):
        return [({"jail": jail}, values[key]) for jail, values in jails.items() if values.get(key) is not None]

    out.family("f2b_up", "gauge", "Check if the fail2ban server is up", [({}, 1 if data["up"] else 0)])
    out.family("f2b_errors", "counter", "Number of errors found since startup",
               [({"type": "socket_conn"}, 0 if data["up"] else 1), ({"type": "socket_req"}, 0)])
    if data["up"]:
        out.family("f2b_jail_count", "gauge", "Number of defined jails", [({}, len(jails))])
        out.family("f2b_jail_failed_current", "gauge", "Number of current failures on this jail's filter",
                   per_jail("failed_current"))
        out.family("f2b_jail_failed_total", "gauge", "Number of total failures on this jail's filter",
                   per_jail("failed_total"))
        out.family("f2b_jail_banned_current", "gauge", "Number of IPs currently banned in this jail",
                   per_jail("banned_current"))
        out.family("f2b_jail_banned_total", "gauge", "Total number of IPs banned by this jail (includes expired bans)",
                   per_jail("banned_total"))
        out.family("f2b_config_jail_ban_time", "gauge", "How long an IP is banned for in this jail (in seconds)",
                   per_jail("bantime"))
        out.family("f2b_config_jail_find_time", "gauge",
                   "How far back will the filter look for failures in this jail (in seconds)", per_jail("findtime"))
        out.family("f2b_config_jail_max_retries", "gauge",
                   "The number of failures allowed until the IP is banned by this jail", per_jail("maxretry"))
        out.family("f2b_version", "gauge", "Version of the exporter and fail2ban server",
                   [({"exporter": EXPORTER, "fail2ban": data["version"] or ""}, 1)])
        out.family("qmail_f2b_jail_last_match_seconds", "gauge",
                   "Seconds since the jail's filter last matched a log line (absent: no match in fail2ban's"
                   " recent log)", per_jail("last_match_seconds"))
        out.family("qmail_f2b_jail_firewall_entries", "gauge",
                   "Entries the firewall holds for the jail (rules of its chain, or elements of its sets)",
                   per_jail("firewall_held"))
        out.family("qmail_f2b_jail_firewall_missing", "gauge",
                   "Bans fail2ban lists for the jail that the firewall does not hold (should be 0)",
                   per_jail("firewall_missing"))
    if data["database_bytes"] is not None:
        out.family("qmail_f2b_database_bytes", "gauge", "Size of fail2ban's database file in bytes",
                   [({}, data["database_bytes"])])
    last = data["watchdog"].get("last_action")
    if last:
        out.family("qmail_f2b_watchdog_last_action_timestamp_seconds", "gauge",
                   "When the watchdog last acted on a fail2ban server that did not answer (Unix time)",
                   [({"action": last["action"]}, last["time"])])
    return out.text()


def check_textfile_dir(folder, root="/"):
    folder = paths.under(root, folder)
    if not folder.is_dir():
        raise InstallerError(f"{folder} is not a folder: give node_exporter's textfile directory"
                             f" (--collector.textfile.directory; Debian's is {paths.TEXTFILE_DIR})")
    return folder


def write_textfile(folder, text, root="/"):
    """DIR/qmail_f2b.prom, replaced in one step; the folder must exist (node_exporter's own)."""
    folder = check_textfile_dir(folder, root)
    target = folder / paths.TEXTFILE_NAME
    handle, scratch = tempfile.mkstemp(prefix=".qmail_f2b.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(handle, "w") as out:
            out.write(text)
        os.chmod(scratch, 0o644)
        os.replace(scratch, target)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise
    return target


def chosen_textfile_dir(root="/"):
    """The folder `metrics --textfile` last wrote to, else Debian's default where it exists, else None."""
    try:
        chosen = paths.under(root, paths.TEXTFILE_CHOICE).read_text().strip()
    except OSError:
        chosen = ""
    if chosen:
        return chosen
    return paths.TEXTFILE_DIR if paths.under(root, paths.TEXTFILE_DIR).is_dir() else None


def remember_textfile_dir(folder, root="/"):
    """So that the watchdog refreshes the file every minute where the admin pointed node_exporter."""
    choice = paths.under(root, paths.TEXTFILE_CHOICE)
    if choice.parent.is_dir():
        choice.write_text(f"{Path(folder).absolute()}\n")


def metrics(client, textfile=None, root="/"):
    if textfile is not None:
        check_textfile_dir(textfile, root)
    data = collect(client, root)
    text = exposition(data)
    if textfile is None:
        return Report(data, text.splitlines())
    target = write_textfile(textfile, text, root)
    remember_textfile_dir(textfile, root)
    return Report({**data, "textfile": str(target)}, [f"wrote {target}"])


def refresh_textfile(client, root="/"):
    """The watchdog's refresh: the file where one is configured; None where none is."""
    folder = chosen_textfile_dir(root)
    if folder is None or not paths.under(root, folder).is_dir():
        return None
    return write_textfile(folder, exposition(collect(client, root)), root)
