"""./install: from a release tarball to a configured fail2ban that starts at boot, in eight steps.

One InstallRun carries what the steps share: the options, the root, the site settings, the
earlier run's manifest, what was built, and the transaction every write goes through.
"""

import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from installer.pipeline import (
    apply,
    boot,
    build,
    configobj_source,
    interpreter,
    logwatch,
    payload,
    preflight,
    previous,
    tarball,
    upgrade,
)
from installer.pipeline import pyinotify as pyinotify_release
from installer.pipeline.journal import RunLock
from installer.pipeline.place import Transaction, target_state
from installer.pipeline.progress import Progress
from installer.shared import manifest as manifest_file
from installer.shared import paths, releases
from installer.shared.digest import sha256_bytes
from installer.shared.errors import InstallerError
from installer.shared.fail2ban import Client

STEPS = 8
# An upgrade of a running server adds the restart on the new release and the check that it serves.
UPGRADE_STEPS = STEPS + 2
# --rollback: reading the kept release, then steps 6 to 8 (and the restart and check where it runs).
ROLLBACK_STEPS = 4


@dataclass
class Options:
    tarball: str = None
    release: str = releases.NEWEST
    mirror: str = None
    sha256: str = None
    root: str = None
    config: str = None
    python: str = None
    pyinotify_tarball: str = None
    pyinotify_sha256: str = None
    rollback: bool = False
    fleet: bool = False
    yes: bool = False
    dry_run: bool = False
    quiet: bool = False


@dataclass
class Build:
    """What steps 1-5 produced: the release, its digest, the Python it runs on, where it was staged;
    and pyinotify as the manifest records it where this run places it (built into the stage, or the
    files an earlier run placed, kept), with a note for the admin where its tarball goes unused."""
    source: tarball.Source
    digest: str
    python: interpreter.Interpreter
    stage: Path
    tree: Path
    pyinotify: dict = None
    kept_pyinotify: list = field(default_factory=list)
    notes: list = field(default_factory=list)


def group_id(root, name):
    """The gid of a group in the root's /etc/group, or 0 (root) where it has none."""
    group_file = paths.under(root, "/etc/group")
    if group_file.is_file():
        for line in group_file.read_text().splitlines():
            fields = line.split(":")
            if fields[0] == name and len(fields) > 2 and fields[2].isascii() and fields[2].isdigit():
                return int(fields[2])
    return 0


class InstallRun:
    """One run of ./install."""

    def __init__(self, options):
        self.options = options
        self.root = Path(options.root or "/").absolute()
        self.staged = options.root is not None
        self.progress = Progress(STEPS, quiet=options.quiet)
        self.settings = None
        self.tarball_path = None     # the fail2ban release found or fetched before step 1
        self.configobj = None        # configobj_source.Bootstrap where the installing Python lacks configobj
        self.site_text = None
        self.old = None              # the manifest of the run before, as found
        self.built = None
        self.transaction = None
        self.outcome = apply.Outcome()
        self.switch = None           # upgrade.Switch where a running server goes over to another build
        self.database = None         # upgrade.DatabaseBackup where one build replaces another
        self.release = None          # the manifest's release record of what this run places
        self.previous = None         # the release record of what is kept for --rollback, if any
        self.registered = []         # what this run registered with the fleet's Local API
        self.extra_steps = 0         # steps beyond the usual ones (the fleet's packages and registration)
        self.packages_needed = []    # the distribution's packages the fleet's role needs, to install
        self.packages_installed = None  # (names, whether the offline file is ours) once installed

    # ---- before any step -------------------------------------------------------------------

    def read_site_settings(self):
        """The validated settings and the site.conf text that goes with them."""
        from installer.siteconf import dialogue, settings, text
        options = self.options
        existing = paths.under(self.root, paths.SITE_CONF)
        if options.config:
            if not Path(options.config).is_file():
                raise InstallerError(f"--config {options.config}: no such file")
            self.settings, self.site_text = settings.load(options.config), Path(options.config).read_bytes()
        elif existing.is_file():
            self.settings, self.site_text = settings.load(existing), existing.read_bytes()
        else:
            if not options.yes and sys.stdin.isatty() and not options.dry_run:
                self.settings = dialogue.ask(self.root, settings.defaults(), fleet=options.fleet)
            else:
                self.settings = settings.defaults()
            self.site_text = text.to_text(self.settings).encode()

    def check_fleet(self):
        """[fleet]: the programs its role needs, and (on the live host) the credentials, before any change."""
        from installer.fleet import credentials, crowdsec
        from installer.pipeline import packages
        fleet = self.settings.fleet
        if fleet is None:
            return
        missing = crowdsec.missing_packages(fleet, self.root)
        if missing and packages.can_install(self.root):
            self.packages_needed = missing
            if not self.options.dry_run:
                self.extra_steps += 1
                self.progress.total += 1
        else:
            crowdsec.check_programs(fleet, self.root)
        if self.staged:
            return  # the credentials are the live host's, read when its daemon starts
        credentials.own(fleet)
        if fleet.runs_lapi:
            credentials.every_host(fleet)
            if not self.options.dry_run:
                self.extra_steps += 1  # registering the fleet's hosts
                self.progress.total += 1

    def register_fleet(self):
        """The lapi host registers every host whose credentials it holds (after its files are placed)."""
        fleet = self.settings.fleet
        if fleet is None or not fleet.runs_lapi or self.staged or self.options.dry_run:
            return
        from installer.fleet import crowdsec
        with self.progress.step("Registering the fleet's hosts with the Local API"):
            self.registered = crowdsec.register(fleet)

    def empty_logs_to_create(self):
        """(path, uid, gid) of the empty logs to create where their folder exists: fail2ban's own for root
        and the adm group (which logrotate keeps), and each jail's owned like its folder, since the
        service that writes it (qmailadmin, Roundcube) often runs as that folder's owner."""
        from installer.siteconf import render
        fail2ban_log = paths.relative(paths.FAIL2BAN_LOG)
        logs = [(fail2ban_log, 0, group_id(self.root, "adm"))] if (self.root / fail2ban_log).parent.is_dir() else []
        for log in render.missing_jail_logs(self.settings, self.root):
            folder = paths.under(self.root, log).parent.stat()
            logs.append((paths.relative(log), folder.st_uid, folder.st_gid))
        return logs

    # ---- steps 1 to 5: nothing is written to the root ---------------------------------------

    def running_release(self):
        """The release the running server was installed as (its manifest record), or None where no server
        runs here (a staged root, nothing installed, or stopped)."""
        recorded = manifest_file.load(self.root)["release"]
        if self.staged or not recorded or not paths.under(self.root, paths.CLIENT).is_file():
            return None
        return recorded if Client(self.root).is_running() else None

    def new_build(self, recorded):
        """Whether what was built differs from the recorded release: another release, or another Python
        (another interpreter or site folder, or the same /usr/bin/python3 at another minor version)."""
        built = self.built
        built_for = manifest_file.built_python_version(recorded)
        return (recorded.get("version"), recorded.get("sha256"), recorded.get("python"), recorded.get("site_dir")) != (
            built.source.version, built.digest, built.python.path, built.python.site_dir) or (
            built_for not in (None, tuple(built.python.version[:2])))

    def build(self, work):
        options, progress, root = self.options, self.progress, self.root
        tarball_path = self.tarball_path
        with progress.step("Checking the host"):
            pyinotify_path = pyinotify_release.find(options.pyinotify_tarball, root, options.pyinotify_sha256)
            preflight.check_free_space(root, work)
            named = tarball.version_from_name(tarball_path)
            python = interpreter.choose(named, requested=options.python) if named else None
            if not self.staged:
                preflight.check_firewall_tools()
        tarballs = " and ".join(path.name for path in (tarball_path, pyinotify_path) if path)
        # From here on only the private copies are read: a file renamed over a tarball after this
        # step is never what gets unpacked and built.
        received_into = Path(work) / "received"
        with progress.step(f"Verifying the sha256 of {tarballs}"):
            received = tarball.verify(tarball_path, received_into / "fail2ban", options.sha256)
            pyinotify_received = pyinotify_path and pyinotify_release.verify(
                pyinotify_path, received_into / "pyinotify", options.pyinotify_sha256)
        with progress.step(f"Unpacking {tarballs}"):
            source = tarball.extract(received, tarball_path, Path(work) / "source")
            if named and named != source.version:
                raise InstallerError(f"{tarball_path.name} holds fail2ban {source.version}, not {named}")
            pyinotify_source = pyinotify_path and pyinotify_release.extract(
                pyinotify_received, pyinotify_path, Path(work) / "pyinotify")
            python = python or interpreter.choose(source.version, requested=options.python)
        self.old = manifest_file.load(root)
        usable, note = pyinotify_release.usable(python, root, self.staged, self.old, pyinotify_path)
        building = bool(usable and pyinotify_source)
        also = f" and pyinotify {pyinotify_source.version}" if building else ""
        with progress.step(f"Building fail2ban {source.version}{also} with {python.label}"):
            stage, build_tree = build.build(source, python, work)
            if building:
                pyinotify_files = build.build_pyinotify(pyinotify_source, python, work, stage)
        with progress.step(f"Checking that fail2ban-client -V runs as {source.version}"
                           f"{' and pyinotify imports' if building else ''}"):
            build.check_version(stage, python, source.version)
            if building:
                pyinotify_release.check(stage, python, pyinotify_source.version)
        notes = received.notes + (pyinotify_received.notes if pyinotify_received else []) + ([note] if note else [])
        built = Build(source, received.digest, python, stage, build_tree, notes=notes)
        if building:
            built.pyinotify = {"version": pyinotify_source.version, "sha256": pyinotify_received.digest,
                               "files": pyinotify_files}
        elif usable:
            built.kept_pyinotify = pyinotify_release.kept_entries(root, self.old, python)
            built.pyinotify = pyinotify_release.earlier_record(self.old) if built.kept_pyinotify else None
        self.built = built

    def planned_entries(self):
        from installer.siteconf import render
        built, root = self.built, self.root
        # Named where it works: our pyinotify (step 5 imported it from the stage with fail2ban's Python,
        # so it imports from the same site folder on the root), or one the live host's Python has.
        # Otherwise (a staged root may go to another host) fail2ban's own `auto` takes pyinotify once it imports.
        fast = built.pyinotify or (not self.staged and logwatch.fastest_log_backend(built.python.path) == "pyinotify")
        rendered = render.render(self.settings, root, "pyinotify" if fast else "auto")
        entries = payload.tree_entries(built.stage) + built.kept_pyinotify
        entries += payload.tree_entries(built.source.path,
                                        f"{paths.relative(paths.SOURCE_DIR)}/{built.source.path.name}")
        entries += payload.host_files(rendered)
        entries.append(payload.Entry(paths.relative(paths.SITE_CONF), "file", self.site_text, 0o644))
        # qmail-f2b runs on the Python running ./install, which reads site.conf with configobj: its own,
        # or the one this run unpacked, placed in our library beside the tool.
        entries += payload.tool(sys.executable)
        if self.configobj:
            entries += self.configobj.entries
        if boot.boots_with_systemd(root):
            entries += boot.systemd_entries(built.tree)
        return entries + self.kept_release_entries()

    def kept_release_entries(self):
        """The release kept for --rollback: the one this run replaces (as it is now), else the one kept before."""
        if self.database:
            self.previous = {key: self.old["release"].get(key) for key in ("version", "sha256")}
            return previous.snapshot(self.root, self.old, self.database.backup)
        self.previous = self.old.get("previous")
        return previous.kept_entries(self.root, self.old) if self.previous else []

    # ---- steps 6 to 8: every write goes through the transaction -------------------------------

    def install_packages(self):
        from installer.pipeline import packages
        if not self.packages_needed:
            return
        names = self.packages_needed
        with self.progress.step(f"Installing {', '.join(names)} with apt-get"):
            self.packages_installed = (names, packages.install(names))

    def remove_installed_packages(self):
        """A run that fails takes out the packages it installed."""
        from installer.pipeline import packages
        if self.packages_installed:
            packages.remove(*self.packages_installed)
            self.packages_installed = None

    def place(self, actions):
        transaction, old = self.transaction, self.old
        manifest = manifest_file.empty()
        for key in ("dirs", "logs", "created"):
            manifest[key] = list(old[key])
        manifest["packages"] = dict(old["packages"])
        self.install_packages()
        if self.packages_installed:
            names, offline_file = self.packages_installed
            manifest["packages"] = {"names": sorted(set(manifest["packages"]["names"]) | set(names)),
                                    "offline_file": manifest["packages"]["offline_file"] or offline_file}
        with self.progress.step("Placing files"):
            apply.apply(actions, transaction, old, manifest, self.outcome)
            apply.remove_stale(old, manifest, transaction, self.outcome, [entry for _, entry in actions])
            for relative, uid, gid in self.empty_logs_to_create():
                if target_state(transaction.path(relative))[0] == "missing":
                    transaction.write(relative, b"", 0o640, uid, gid)
                    manifest["logs"].append(relative)
        with self.progress.step("Testing the configuration with fail2ban-client -t"):
            self.test_configuration()
        self.register_fleet()
        with self.progress.step("Adding boot hooks and the manifest"):
            if not boot.boots_with_systemd(self.root):
                boot.add_hooks(transaction, manifest)
            boot.add_cron_jobs(transaction, manifest, self.root)
            manifest["release"] = self.release
            if self.previous:
                manifest["previous"] = self.previous
            transaction.make_dirs(str(Path(manifest_file.LOCATION).parent))
            manifest["dirs"] = sorted(set(manifest["dirs"]) | set(transaction.created_dirs))
            data = manifest_file.dump(manifest)
            if target_state(transaction.path(manifest_file.LOCATION))[1] != sha256_bytes(data):
                transaction.write(manifest_file.LOCATION, data, 0o644)

    def built_release(self):
        """The manifest's release record of what steps 1 to 5 built."""
        built = self.built
        release = {"version": built.source.version, "sha256": built.digest, "python": built.python.path,
                   "site_dir": built.python.site_dir, "python_version": "%d.%d" % tuple(built.python.version[:2])}
        if built.pyinotify:
            release["pyinotify"] = built.pyinotify
        return release

    def test_configuration(self):
        """fail2ban's own verdict. A staged root's logs are not where the jails name them, so fail2ban
        checks a copy of the configuration whose jails read the staged logs instead."""
        client = Client(self.root, self.release.get("site_dir"))
        if not self.staged:
            client.test_config()
            return
        with tempfile.TemporaryDirectory(prefix="qmail-fail2ban-test-") as scratch:
            confdir = Path(scratch) / "fail2ban"
            shutil.copytree(paths.under(self.root, paths.CONFIG_DIR), confdir, symlinks=True)
            staged_logs = "".join(f"[{jail.name}]\nlogpath = {paths.under(self.root, jail.logpath)}\n\n"
                                  for jail in self.settings.jails if jail.logpath)
            (confdir / "jail.d" / "zz-staged-logs.local").write_text(staged_logs)
            client.test_config(confdir)

    # ---- what the admin reads --------------------------------------------------------------------

    def report_dry_run(self, actions):
        verbs = {"write": "would write", "replace": "would replace", "link": "would link", "mkdir": "would create",
                 "new": "would write beside the admin's file"}
        for action, entry in actions:
            if action in verbs:
                shown = self.root / (entry.path + (".new" if action == "new" else ""))
                self.progress.say(f"  {verbs[action]} {shown}")
        for log, _, _ in self.empty_logs_to_create():
            self.progress.say(f"  would create the empty log {self.root / log} if missing")
        if self.packages_needed:
            self.progress.say(f"  would install {', '.join(self.packages_needed)} with apt-get")
        self.progress.say("  would test the configuration and add boot hooks and cron jobs;"
                          " dry run: nothing was changed")

    def summarize(self):
        from installer.siteconf import render
        built, outcome, progress, root = self.built, self.outcome, self.progress, self.root
        releases = [f"fail2ban {built.source.version}"]
        if built.pyinotify:
            releases.append(f"pyinotify {built.pyinotify['version']}")
        if self.packages_installed:
            progress.say(f"Installed with apt-get: {', '.join(self.packages_installed[0])}"
                         " (--uninstall removes them again).")
        if self.registered:
            progress.say(f"Registered with the fleet's Local API: {', '.join(self.registered)}.")
        if not self.transaction.changed and not self.registered and not self.packages_installed:
            progress.say(f"Nothing to do: {', '.join(releases)} and every file are already in place.")
        else:
            progress.say(f"{' and '.join(releases)} installed{' under ' + str(root) if self.staged else ''}: "
                         f"{len(outcome.written)} files written, {len(outcome.removed)} removed.")
        if outcome.replaced:
            progress.say(f"Replaced {len(outcome.replaced)} program files of an earlier fail2ban install.")
        for new_file in outcome.new_files:
            # Always shown, even with --quiet: the admin must merge these by hand.
            print(f"Review {root / new_file}: you changed {root / new_file[:-4]}, so the new version waits beside it.")
        for note in built.notes:
            progress.say(note)
        for jail, folder in render.missing_log_folders(self.settings, root).items():
            progress.say(f"Jail {jail} is off: its log folder {folder} does not exist. Create it, or give the jail's"
                         " log in site.conf, and run ./install again.")
        if self.staged:
            return
        faster = logwatch.polling_advice(built.python.path, built.python.version, root)
        if faster:
            progress.say(faster)
        if self.switch:
            progress.say(f"fail2ban {built.source.version} serves, with every jail and ban of the release before.")
        elif not Client(root).is_running():
            progress.say(f"Start fail2ban with: {paths.RC_SCRIPT} start")
        elif self.transaction.changed:
            progress.say(f"fail2ban is running the old files: apply the new ones with {paths.RC_SCRIPT} restart")
        if self.settings.fleet is not None:
            from installer.fleet import daemon
            if not daemon.running_pid():
                progress.say(f"Start sharing bans with the fleet with: {paths.FLEET_RC_SCRIPT} start")
            elif self.transaction.changed:
                progress.say(f"The fleet daemon runs the old settings: {paths.FLEET_RC_SCRIPT} restart")

    # ---- all of it ---------------------------------------------------------------------------

    def fetch_sources(self, work):
        """The fail2ban release and, where the installing Python lacks it, configobj: found in the source
        folder or downloaded there (a dry run downloads into its scratch folder only), before anything needs
        them. fail2ban's first, so that an offline host with nothing saved learns the main download first."""
        options = self.options
        self.tarball_path = preflight.find_tarball(options.tarball, self.root, options.release, options.sha256,
                                                   options.mirror, work if options.dry_run else None,
                                                   quiet=options.quiet)
        self.configobj = configobj_source.ensure(self.root, work, options.mirror, save=not options.dry_run,
                                                 quiet=options.quiet)

    def execute(self):
        preflight.check_root_folder(self.root, self.staged)
        if self.options.dry_run:
            with tempfile.TemporaryDirectory(prefix="qmail-fail2ban-") as work:
                self.fetch_sources(work)
                self.read_site_settings()
                self.check_fleet()
                self.build(work)
                self.report_dry_run(apply.plan_actions(self.planned_entries(), self.root, self.old))
            return 0
        # Held to the end; taking it first undoes what a killed run left (see journal.py).
        with RunLock(self.root) as lock:
            work = lock.work_dir()
            self.fetch_sources(work)
            self.read_site_settings()
            self.check_fleet()
            running = self.running_release()
            # A switch a killed run left unfinished: the server may be stopped, or on files the journal
            # has put back since; this run switches (and checks) whatever it builds.
            interrupted = None if self.staged else upgrade.interrupted(self.root)
            if interrupted:
                running = running or manifest_file.load(self.root)["release"] or None
            if interrupted or running and tarball.version_from_name(self.tarball_path) not in (
                    None, running.get("version")):
                self.progress.total = UPGRADE_STEPS + self.extra_steps
            self.build(work)
            self.release = self.built_release()
            if self.old["release"] and (interrupted or self.new_build(self.old["release"])):
                # Taken before any file changes: the old release's database, and what it serves.
                self.database = upgrade.DatabaseBackup(self.root, work)
                if running:
                    self.switch = upgrade.Switch(self.root, self.database, interrupted)
                    self.progress.total = UPGRADE_STEPS + self.extra_steps
            actions = apply.plan_actions(self.planned_entries(), self.root, self.old)
            try:
                self.place_and_switch(lock, actions, running)
            except BaseException:
                self.remove_installed_packages()
                raise
            self.summarize()
        return 0

    def place_and_switch(self, lock, actions, running, database=None):
        """Steps 6 to 8, and the switch where a server runs, as one transaction; where the new release
        does not serve, the old one is put back and serves again, or the run says why not."""
        try:
            with Transaction(self.root, os.geteuid() == 0, lock.journal,
                             lock.created_relative()) as self.transaction:
                self.place(actions)
                if self.switch:
                    self.switch_over(database)
        except upgrade.UpgradeFailed as failure:
            # The transaction has put the old release's files back.
            self.switch_back(running, failure)
        if self.switch:
            self.switch.unmark()

    def rollback(self):
        """./install --rollback: the kept release's files, manifest and (where the database was rewritten
        since) database put back, the same checked way as an upgrade; the release it replaces is kept."""
        if self.options.dry_run:
            raise InstallerError("--rollback cannot be a dry run: it lists nothing it would do")
        with RunLock(self.root) as lock:
            work = lock.work_dir()
            self.old = manifest_file.load(self.root)
            running = self.running_release()
            self.progress.total = ROLLBACK_STEPS + (UPGRADE_STEPS - STEPS if running else 0)
            with self.progress.step("Reading the kept release"):
                kept_manifest, entries = previous.load(self.root, self.old)
                self.release = kept_manifest["release"]
                kept_database = previous.database(self.root)
                if kept_database:
                    kept_database = Path(work) / "kept-database"
                    upgrade.copy_database(previous.database(self.root), kept_database)
                self.database = upgrade.DatabaseBackup(self.root, work)
                if running:
                    self.switch = upgrade.Switch(self.root, self.database)
                # A database the newer release rewrote goes back to the backup made before it ran;
                # one it left in the old form stays, with the bans made since.
                if kept_database and self.database.backup and (upgrade.schema_version(kept_database)
                                                               == upgrade.schema_version(self.database.backup)):
                    kept_database = None
            self.read_site_settings()
            self.check_fleet()
            self.previous = {key: self.old["release"].get(key) for key in ("version", "sha256")}
            entries += previous.snapshot(self.root, self.old, self.database.backup)
            self.place_and_switch(lock, apply.plan_actions(entries, self.root, self.old), running, kept_database)
            self.progress.say(f"fail2ban {self.release.get('version')} is back"
                              f"{', serving every jail and ban' if self.switch else ''};"
                              f" {self.previous['version']} is kept for --rollback.")
        return 0

    def switch_over(self, database=None):
        version = self.release.get("version")
        with self.progress.step(f"Restarting fail2ban on {version}"):
            self.switch.mark()
            self.switch.restart(database)
        with self.progress.step(f"Checking that fail2ban {version} serves {len(self.switch.jails)} jails and"
                                f" {self.switch.ban_count} bans, in fail2ban and the firewall"):
            self.switch.check_serving()

    def switch_back(self, running, failure):
        old, new = running.get("version"), self.release.get("version")
        self.progress.say(f"fail2ban {new} does not serve ({failure}): switching back to {old}")
        try:
            self.switch.switch_back()
        except InstallerError as error:
            raise InstallerError(f"fail2ban {new} failed: {failure}; switching back to {old} failed too:"
                                 f" {error}") from None
        self.switch.unmark()
        raise InstallerError(f"fail2ban {new} failed: {failure}; fail2ban {old} serves again with its files"
                             " and bans") from None


def install(options):
    run = InstallRun(options)
    return run.rollback() if options.rollback else run.execute()
