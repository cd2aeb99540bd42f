"""Switching a running fail2ban to another build in one checked step, and back if the new one cannot serve.

Before the switch: what the running server serves (its jails and every ban, as fail2ban lists them) and a
copy of its database made with sqlite's own backup API (a consistent copy of a live database, which a file
copy is not). After the new files are placed: restart on them and check that the host is served as before.
On any failure the caller rolls the files back and switch_back() puts the database copy in place, starts
the old release and checks it the same way.
"""

import json
import os
import sqlite3
import time
from contextlib import closing
from pathlib import Path

from installer.shared import paths
from installer.shared.errors import InstallerError
from installer.shared.fail2ban import Client
from installer.shared.run import last_meaningful_line, run
from installer.tool import holdings

# How long a started server may take to bring its jails up and restore its bans (5,000 of them included).
SERVE_TIMEOUT = 90
POLL_INTERVAL = 0.5
RESTART_TIMEOUT = 180


class UpgradeFailed(InstallerError):
    """The new release did not serve; the message says how."""


def database_of(client):
    """fail2ban's database file as its configuration names it (its default where the configuration cannot be
    read), or None (no database, or in memory)."""
    try:
        dbfile = str(client.configuration().server("dbfile", paths.FAIL2BAN_DB))
    except InstallerError:
        dbfile = paths.FAIL2BAN_DB
    return None if dbfile in ("None", ":memory:") else dbfile


def copy_database(source, target):
    """source into target with sqlite's backup API: page by page inside sqlite's locking, so a server
    writing meanwhile never leaves a torn copy."""
    with closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)) as reading, \
            closing(sqlite3.connect(target, timeout=30)) as writing:
        reading.backup(writing)


def schema_version(path):
    """The version fail2ban wrote in a database (its fail2banDb table), or None where it has none."""
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as database:
            return database.execute("SELECT version FROM fail2banDb").fetchone()[0]
    except (sqlite3.Error, TypeError):
        return None


def interrupted(root):
    """What the server served before a switch that a killed run left unfinished, or None."""
    try:
        served = json.loads(paths.under(root, paths.SWITCHING).read_text())
    except (OSError, ValueError):
        return None
    if isinstance(served, dict) and isinstance(served.get("jails"), list) and isinstance(served.get("bans"), dict):
        return served
    return None


class DatabaseBackup:
    """fail2ban's database as its configuration names it (None: it keeps none), and a backup of it in work."""

    def __init__(self, root, work):
        self.root = Path(root)
        # A staged root's fail2ban runs nowhere yet: its database is the default one, if any.
        self.database = database_of(Client(root)) if paths.is_host_root(root) else paths.FAIL2BAN_DB
        self.backup = Path(work) / "fail2ban.sqlite3.backup"
        if self.database and paths.under(self.root, self.database).is_file():
            copy_database(paths.under(self.root, self.database), self.backup)
        else:
            self.backup = None

    def put_back(self, source=None):
        """The backup (or source) in the database's place; the server must be stopped."""
        source = source or self.backup
        if source and self.database:
            copy_database(source, paths.under(self.root, self.database))


class Switch:
    """One running server's switch to the files placed by this run."""

    def __init__(self, root, database, served=None):
        """database: the DatabaseBackup made before any file changed. served: what a switch that was killed
        midway recorded (interrupted()), where the server may no longer answer; else the running one is asked."""
        self.root = Path(root)
        self.client = Client(root)
        if served:
            self.jails, self.bans = served["jails"], {jail: set(bans) for jail, bans in served["bans"].items()}
        else:
            self.jails = self.client.jails()
            self.bans = {jail: set(addresses) for jail, addresses in self.client.banned().items()}
        self.database = database

    def mark(self):
        """Records what the server serves before stopping it: a run killed from here on leaves the server
        stopped or on files the journal puts back, and the next run restarts and checks it against this."""
        marker = paths.under(self.root, paths.SWITCHING)
        temporary = marker.with_name(marker.name + ".tmp")
        temporary.write_text(json.dumps({"jails": self.jails,
                                         "bans": {jail: sorted(bans) for jail, bans in self.bans.items()}}))
        os.replace(temporary, marker)

    def unmark(self):
        try:
            paths.under(self.root, paths.SWITCHING).unlink()
        except FileNotFoundError:
            pass

    @property
    def ban_count(self):
        return sum(len(addresses) for addresses in self.bans.values())

    def _rc(self, verb):
        return run([paths.under(self.root, paths.RC_SCRIPT), verb], check=False, timeout=RESTART_TIMEOUT,
                   what=f"{paths.RC_SCRIPT} {verb}")

    def restart(self, database=None):
        """The server restarted on the placed files; with database (a file), started on that database."""
        if database:
            self.stop()
            self.database.put_back(database)
            result = self._rc("start")
        else:
            result = self._rc("restart")
        if result.returncode != 0:
            reason = last_meaningful_line(result.stderr) or last_meaningful_line(result.stdout) or "no output"
            raise UpgradeFailed(f"its server did not start ({reason})")
        if not self.client.is_running():
            raise UpgradeFailed("its server did not start (it exited right after it answered once)")

    def serving_problem(self):
        """Why the running server does not serve as before the switch, or None: it answers, runs every
        enabled jail, lists every earlier ban, and the firewall holds each of them."""
        if not self.client.is_running():
            return "its server does not answer"
        try:
            configuration = self.client.configuration()
            running = self.client.jails()
            banned = self.client.banned()
        except InstallerError as error:
            return str(error)
        down = sorted(set(configuration.jails()) - set(running))
        if down:
            return f"jail(s) {', '.join(down)} did not start"
        for jail, addresses in self.bans.items():
            lost = sorted(addresses - set(banned.get(jail, [])))
            if lost:
                return f"{jail} lost {len(lost)} of its {len(addresses)} bans ({' '.join(lost[:3])})"
        for jail, held in holdings.holdings(self.root, configuration, banned).items():
            if held.stores and (held.problem or held.missing):
                return f"the firewall of {jail} lacks bans ({held.problem or ' '.join(held.missing[:3])})"
        return None

    def check_serving(self):
        """Waits, bounded, until the server serves as before; raises UpgradeFailed saying what it lacks."""
        deadline = time.monotonic() + SERVE_TIMEOUT
        problem = self.serving_problem()
        while problem and time.monotonic() < deadline:
            time.sleep(POLL_INTERVAL)
            problem = self.serving_problem()
        if problem:
            raise UpgradeFailed(problem)

    def stop(self):
        self._rc("stop")

    def switch_back(self):
        """With the old files back in place: the database as it was before the switch, the old server
        started and checked. Raises InstallerError when even the old release does not serve."""
        self.stop()
        self.database.put_back()
        result = self._rc("start")
        if result.returncode != 0:
            reason = last_meaningful_line(result.stderr) or last_meaningful_line(result.stdout) or "no output"
            raise InstallerError(f"the old release did not start either ({reason})")
        self.check_serving()
