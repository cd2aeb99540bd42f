"""./install: from a release tarball to a configured fail2ban that starts at boot, in eight steps."""

import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from installer import (apply, backend, boot, build, interpreter, manifest as manifest_file, payload, preflight,
                       pyinotify_release, tarball)
from installer.digest import sha256_bytes
from installer.errors import InstallerError
from installer.fail2ban import Client
from installer.place import Transaction, target_state
from installer.progress import Progress

STEPS = 8
SITE_CONF = "etc/qmail-fail2ban/site.conf"


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


@dataclass
class Options:
    tarball: str = None
    sha256: str = None
    root: str = None
    config: str = None
    python: str = None
    pyinotify_tarball: str = None
    pyinotify_sha256: str = None
    yes: bool = False
    dry_run: bool = False
    quiet: bool = False


def site_settings(options, root):
    """The validated settings and the site.conf text that goes with them."""
    from installer import dialogue, siteconf
    existing = root / SITE_CONF
    if options.config:
        if not Path(options.config).is_file():
            raise InstallerError(f"--config {options.config}: no such file")
        return siteconf.load(options.config), Path(options.config).read_bytes()
    if existing.is_file():
        return siteconf.load(existing), existing.read_bytes()
    if not options.yes and sys.stdin.isatty() and not options.dry_run:
        settings = dialogue.ask(root, siteconf.defaults())
    else:
        settings = siteconf.defaults()
    return settings, siteconf.to_text(settings).encode()


FAIL2BAN_LOG = "var/log/fail2ban.log"


def group_id(root, name):
    """The gid of a group in the root's /etc/group, or 0 (root) where it has none."""
    group_file = root / "etc/group"
    if group_file.is_file():
        for line in group_file.read_text().splitlines():
            fields = line.split(":")
            if fields[0] == name and len(fields) > 2 and re.fullmatch(r"[0-9]+", fields[2]):
                return int(fields[2])
    return 0


def logs_to_create(root, service_logs):
    """(path, uid, gid) of the empty logs to create where their folder exists: fail2ban's own for root
    and the adm group (which logrotate keeps), and each jail's owned like its folder, since the
    service that writes it (qmailadmin, Roundcube) often runs as that folder's owner."""
    logs = [(FAIL2BAN_LOG, 0, group_id(root, "adm"))] if (root / FAIL2BAN_LOG).parent.is_dir() else []
    for log in service_logs:
        folder = (root / log.lstrip("/")).parent.stat()
        logs.append((log.lstrip("/"), folder.st_uid, folder.st_gid))
    return logs


def planned_entries(root, staged, built, settings, site_text):
    from installer import render
    # Named where it works: our pyinotify (step 5 imported it from the stage with fail2ban's Python,
    # so it imports from the same site folder on the root), or one the live host's Python has.
    # Otherwise (a staged root may go to another host) fail2ban's own `auto` takes pyinotify once it imports.
    fast = built.pyinotify or (not staged and backend.best_backend(built.python.path) == "pyinotify")
    rendered = render.render(settings, root, "pyinotify" if fast else "auto")
    entries = payload.tree_entries(built.stage) + built.kept_pyinotify
    entries += payload.tree_entries(built.source.path, f"{payload.SOURCE_DIR}/{built.source.path.name}")
    entries += payload.ours(rendered)
    entries.append(payload.Entry(SITE_CONF, "file", site_text, 0o644))
    # The Python running ./install has configobj, which qmail-f2b needs to read site.conf.
    entries += payload.tool(sys.executable)
    if boot.boots_with_systemd(root):
        entries += boot.systemd_entries(built.tree)
    return entries


def install(options):
    root = Path(options.root or "/").absolute()
    staged = options.root is not None
    progress = Progress(STEPS, quiet=options.quiet)
    preflight.check_root_folder(root, staged)
    preflight.check_configobj()
    settings, site_text = site_settings(options, root)
    with tempfile.TemporaryDirectory(prefix="qmail-fail2ban-") as work:
        with progress.step("Checking the host"):
            tarball_path = preflight.find_tarball(options.tarball, root)
            pyinotify_path = pyinotify_release.find(options.pyinotify_tarball, root, options.pyinotify_sha256)
            preflight.check_free_space(root, work)
            named = tarball.version_from_name(tarball_path)
            python = interpreter.choose(named, requested=options.python) if named else None
            if not staged:
                preflight.check_firewall_tools()
        tarballs = " and ".join(path.name for path in (tarball_path, pyinotify_path) if path)
        with progress.step(f"Verifying the sha256 of {tarballs}"):
            digest = tarball.verify(tarball_path, options.sha256)
            pyinotify_digest = pyinotify_path and pyinotify_release.verify(pyinotify_path, options.pyinotify_sha256)
        with progress.step(f"Unpacking {tarballs}"):
            source = tarball.extract(tarball_path, Path(work) / "source")
            if named and named != source.version:
                raise InstallerError(f"{tarball_path.name} holds fail2ban {source.version}, not {named}")
            pyinotify_source = pyinotify_path and pyinotify_release.extract(pyinotify_path, Path(work) / "pyinotify")
            python = python or interpreter.choose(source.version, requested=options.python)
        old = manifest_file.load(root)
        usable, note = pyinotify_release.usable(python, root, staged, old, pyinotify_path)
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
        built = Build(source, digest, python, stage, build_tree, notes=[note] if note else [])
        if building:
            built.pyinotify = {"version": pyinotify_source.version, "sha256": pyinotify_digest,
                               "files": pyinotify_files}
        elif usable:
            built.kept_pyinotify = pyinotify_release.kept_entries(root, old, python)
            built.pyinotify = pyinotify_release.earlier_record(old) if built.kept_pyinotify else None
        entries = planned_entries(root, staged, built, settings, site_text)
        actions = apply.plan_actions(entries, root, old)
        if options.dry_run:
            return report_dry_run(progress, root, actions, settings)
        transaction = Transaction(root, as_root=os.geteuid() == 0)
        try:
            outcome = place(progress, transaction, root, staged, actions, old, settings, built)
        except BaseException:
            transaction.rollback()
            raise
        transaction.close()
    summarize(progress, root, staged, built, outcome, transaction, settings)
    return 0


def place(progress, transaction, root, staged, actions, old, settings, built):
    from installer import render
    manifest = manifest_file.empty()
    for key in ("dirs", "logs", "created"):
        manifest[key] = list(old[key])
    outcome = apply.Outcome()
    with progress.step("Placing files"):
        apply.apply(actions, transaction, old, manifest, outcome)
        apply.remove_stale(old, manifest, transaction, outcome, [entry for _, entry in actions])
        for relative, uid, gid in logs_to_create(root, render.logs_to_create(settings, root)):
            if target_state(transaction.path(relative))[0] == "missing":
                transaction.write(relative, b"", 0o640, uid, gid)
                manifest["logs"].append(relative)
    with progress.step("Testing the configuration with fail2ban-client -t"):
        test_configuration(root, staged, built.python, settings)
    with progress.step("Adding boot hooks and the manifest"):
        if not boot.boots_with_systemd(root):
            boot.add_hooks(transaction, manifest)
        manifest["release"] = {"version": built.source.version, "sha256": built.digest,
                               "python": built.python.path, "site_dir": built.python.site_dir}
        if built.pyinotify:
            manifest["release"]["pyinotify"] = built.pyinotify
        transaction.make_dirs(str(Path(manifest_file.LOCATION).parent))
        manifest["dirs"] = sorted(set(manifest["dirs"]) | set(transaction.created_dirs))
        data = manifest_file.dump(manifest)
        if target_state(transaction.path(manifest_file.LOCATION))[1] != sha256_bytes(data):
            transaction.write(manifest_file.LOCATION, data, 0o644)
    return outcome


def test_configuration(root, staged, python, settings):
    """fail2ban's own verdict. A staged root's logs are not where the jails name them, so fail2ban
    checks a copy of the configuration whose jails read the staged logs instead."""
    client = Client(root, python.site_dir)
    if not staged:
        client.test_config()
        return
    with tempfile.TemporaryDirectory(prefix="qmail-fail2ban-test-") as scratch:
        confdir = Path(scratch) / "fail2ban"
        shutil.copytree(root / "etc/fail2ban", confdir, symlinks=True)
        staged_logs = "".join(f"[{jail.name}]\nlogpath = {root / jail.logpath.lstrip('/')}\n\n"
                              for jail in settings.jails if jail.logpath)
        (confdir / "jail.d" / "zz-staged-logs.local").write_text(staged_logs)
        client.test_config(confdir)


def report_dry_run(progress, root, actions, settings):
    from installer import render
    verbs = {"write": "would write", "replace": "would replace", "link": "would link", "mkdir": "would create",
             "new": "would write beside the admin's file"}
    for action, entry in actions:
        if action in verbs:
            shown = root / (entry.path + (".new" if action == "new" else ""))
            progress.say(f"  {verbs[action]} {shown}")
    for log, _, _ in logs_to_create(root, render.logs_to_create(settings, root)):
        progress.say(f"  would create the empty log {root / log} if missing")
    progress.say("  would test the configuration and add boot hooks; dry run: nothing was changed")
    return 0


def summarize(progress, root, staged, built, outcome, transaction, settings):
    from installer import render
    source = built.source
    releases = [f"fail2ban {source.version}"] + ([f"pyinotify {built.pyinotify['version']}"] if built.pyinotify else [])
    if not transaction.changed:
        progress.say(f"Nothing to do: {', '.join(releases)} and every file are already in place.")
    else:
        progress.say(f"{' and '.join(releases)} installed{' under ' + str(root) if staged else ''}: "
                     f"{len(outcome.written)} files written, {len(outcome.removed)} removed.")
    if outcome.replaced:
        progress.say(f"Replaced {len(outcome.replaced)} program files of an earlier fail2ban install.")
    for new_file in outcome.new_files:
        # Always shown, even with --quiet: the admin must merge these by hand.
        print(f"Review {root / new_file}: you changed {root / new_file[:-4]}, so the new version waits beside it.")
    for note in built.notes:
        progress.say(note)
    for jail, folder in render.missing_log_folders(settings, root).items():
        progress.say(f"Jail {jail} is off: its log folder {folder} does not exist. Create it, or give the jail's"
                     " log in site.conf, and run ./install again.")
    if staged:
        return
    faster = backend.advice(built.python.path, built.python.version, root)
    if faster:
        progress.say(faster)
    if not Client(root).is_running():
        progress.say("Start fail2ban with: /etc/rc.d/rc.fail2ban start")
    elif transaction.changed:
        progress.say("fail2ban is running the old files: apply the new ones with /etc/rc.d/rc.fail2ban restart")
