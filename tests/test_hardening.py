"""What once got past the installer's checks: odd site.conf values, damaged manifests and hostile release
tarballs (each one clear error line, no traceback, nothing changed), and the owner of a folder the installer
writes in swapping names for links under it."""

import hashlib
import json
import os
import stat
import tarfile

import pytest

from installer.pipeline import install, place
from installer.pipeline.journal import Journal
from installer.pipeline.place import Transaction
from installer.shared import manifest as manifest_file
from installer.shared.errors import InstallerError
from installer.shared.paths import STATE_DIR, under
from installer.siteconf import settings as siteconf
from installer.tool import cli
from tests.fixture.variants import read_members, write_tarball
from tests.support.install import run_install, sha256_of, stage_install
from tests.support.treestate import entry_state, tree_state
from tests.test_bad_input import TOP, assert_refused, hostile

# ---- site.conf: ASCII digits only, and no address sendmail would read as an option -------------

# (site.conf text, key, words in the reason)
UNREADABLE_BY_FAIL2BAN = {
    "superscript maxretry": ("[defaults]\nmaxretry = \u00b2\n", "defaults.maxretry", "whole number"),
    "superscript port": ("[jails]\n  [[dovecot]]\n  port = \u00b2\n", "jails.dovecot.port", "not a port number"),
    "superscript among ports": ("[jails]\n  [[dovecot]]\n  port = 143, 9\u00b9\u00b3\n", "jails.dovecot.port",
                                "not a port number"),
    "arabic-indic maxretry": ("[jails]\n  [[dovecot]]\n  maxretry = \u0665\n", "jails.dovecot.maxretry",
                              "whole number"),
    "arabic-indic port": ("[jails]\n  [[dovecot]]\n  port = \u0661\u0664\u0663\n", "jails.dovecot.port",
                          "not a port number"),
    "arabic-indic bantime": ("[defaults]\nbantime = \u0661h\n", "defaults.bantime", "positive time"),
    "fullwidth findtime": ("[defaults]\nfindtime = \uff11\uff10m\n", "defaults.findtime", "positive time"),
    "unicode space inside a time": ("[defaults]\nbantime = 1\u2003h\n", "defaults.bantime", "positive time"),
    "dest that is a sendmail option": ("[alerts]\ndest = -t@example.com\n", "alerts.dest", "e-mail address"),
    "sender that is a sendmail option": ("[alerts]\nsender = -oi@example.com\n", "alerts.sender", "e-mail address"),
}


@pytest.mark.parametrize("case", UNREADABLE_BY_FAIL2BAN)
def test_site_conf_values_fail2ban_or_sendmail_would_misread(case):
    text, key, reason = UNREADABLE_BY_FAIL2BAN[case]
    with pytest.raises(InstallerError) as raised:
        siteconf.parse(text, "site.conf")
    message = str(raised.value)
    assert message.startswith(f"site.conf, line {text.count(chr(10))}, key {key}: "), message
    assert reason in message
    assert "\n" not in message


def test_plain_values_next_to_those_still_load():
    settings = siteconf.parse("[alerts]\ndest = t-1@example.com\n[defaults]\nmaxretry = 3\nbantime = 1h 30m\n"
                              "[jails]\n  [[dovecot]]\n  port = 143, 993\n", "site.conf")
    assert (settings.dest, settings.maxretry, settings.bantime) == ("t-1@example.com", 3, "1h 30m")
    assert settings.jail("dovecot").port == (143, 993)


@pytest.mark.parametrize("lines", ["\u00b2", "\u0665", "-1", "1.5", ""])
def test_log_line_count_takes_ascii_digits_only(capsys, lines):
    with pytest.raises(SystemExit) as exited:
        cli.main(["log", "-n", lines])
    assert exited.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "is not a number of lines" in error[0], error


def test_a_group_id_that_is_not_ascii_digits_counts_as_root(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/group").write_text("adm:x:\u00b2:\nmail:x:\u0661\u0662:\nwheel:x:10:\n")
    assert [install.group_id(tmp_path, name) for name in ("adm", "mail", "wheel")] == [0, 0, 10]


# ---- the manifest: every path it names stays under the root, and its shape is checked ---------------

MANIFEST = "var/lib/qmail-fail2ban/manifest"
VICTIM_TEXT = b"not the installer's\n"


@pytest.fixture
def staged_root(tmp_path, fixture_tarball):
    """A staged install, and beside it a file, an empty log and an empty folder a damaged manifest could name."""
    stage_install(tmp_path / "root", fixture_tarball)
    outside = tmp_path / "outside"
    (outside / "empty").mkdir(parents=True)
    (outside / "victim").write_bytes(VICTIM_TEXT)
    (outside / "empty-log").write_bytes(b"")
    return tmp_path / "root"


def damage_manifest(root, change):
    path = root / MANIFEST
    manifest = json.loads(path.read_text())
    path.write_text(json.dumps(change(manifest)))


def naming(key, relative):
    """A change that adds relative to the manifest's key, as uninstall would find it there."""
    def change(manifest):
        if key == "files":
            manifest["files"][relative] = {"sha256": hashlib.sha256(VICTIM_TEXT).hexdigest(), "mode": "0o644"}
        elif key == "links":
            manifest["links"][relative] = "anything"
        elif key == "hooks":
            manifest["hooks"][relative] = ["whatever"]
        else:
            manifest[key].append(relative)
        return manifest
    return change


def replacing(key, value):
    def change(manifest):
        manifest[key] = value
        return manifest
    return change


def without_sha256(manifest):
    record = next(iter(manifest["files"].values()))
    del record["sha256"]
    return manifest


def with_a_mode_that_is_not_octal(manifest):
    next(iter(manifest["files"].values()))["mode"] = "rw-r--r--"
    return manifest


OUTSIDE_PATHS = {
    "a file up and out": ("files", "../outside/victim"),
    "a file by absolute path": ("files", "{outside}/victim"),
    "a file through a link on disk": ("files", "escape/victim"),
    "a log up and out": ("logs", "../outside/empty-log"),
    "a log by absolute path": ("logs", "{outside}/empty-log"),
    "a folder up and out": ("dirs", "../outside/empty"),
    "a folder through a link on disk": ("dirs", "escape/empty"),
    "a link up and out": ("links", "../outside/victim"),
    "a hook file by absolute path": ("hooks", "{outside}/victim"),
    "a created file up and out": ("created", "../outside/victim"),
    "the root itself": ("dirs", "."),
}

WRONG_SHAPES = {
    "a list": lambda manifest: [manifest],
    "files that is a list": replacing("files", ["etc/fail2ban/jail.local"]),
    "a file record without sha256": without_sha256,
    "a file record whose mode is not octal": with_a_mode_that_is_not_octal,
    "dirs that is a string": replacing("dirs", "etc"),
    "hooks that name no lines": replacing("hooks", {"etc/rc.d/rc.local": "line"}),
    "release that is a string": replacing("release", "1.0.2"),
    "a package name that is an option of apt-get": replacing(
        "packages", {"names": ["--allow-unauthenticated"], "offline_file": False}),
    "packages without the offline flag": replacing("packages", {"names": ["crowdsec"]}),
}


def assert_damaged(result, tree, before, outside, outside_before):
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("install: error: ") and "is damaged" in lines[0] and "move it aside" in lines[0]
    assert tree_state(tree) == before
    assert tree_state(outside) == outside_before


@pytest.mark.parametrize("case", [*OUTSIDE_PATHS, *WRONG_SHAPES])
def test_uninstall_refuses_a_damaged_manifest(staged_root, case):
    outside = staged_root.parent / "outside"
    (staged_root / "escape").symlink_to(outside)
    if case in OUTSIDE_PATHS:
        key, relative = OUTSIDE_PATHS[case]
        damage_manifest(staged_root, naming(key, relative.format(outside=outside)))
    else:
        damage_manifest(staged_root, WRONG_SHAPES[case])
    before, outside_before = tree_state(staged_root), tree_state(outside)
    result = run_install("--uninstall", "--root", staged_root)
    assert_damaged(result, staged_root, before, outside, outside_before)


def test_a_rerun_refuses_a_manifest_naming_a_file_outside_the_root(staged_root, fixture_tarball):
    outside = staged_root.parent / "outside"
    damage_manifest(staged_root, naming("files", "../outside/victim"))
    before, outside_before = tree_state(staged_root), tree_state(outside)
    result = run_install("--root", staged_root, "--tarball", fixture_tarball, "--sha256", sha256_of(fixture_tarball),
                         "--yes", "--quiet")
    assert_damaged(result, staged_root, before, outside, outside_before)


def test_uninstall_still_removes_an_undamaged_install(staged_root):
    result = run_install("--uninstall", "--root", staged_root, "--quiet")
    assert result.returncode == 0, result.stderr
    assert not (staged_root / MANIFEST).exists()
    assert (staged_root.parent / "outside/victim").read_bytes() == VICTIM_TEXT


# ---- release tarballs: no write outside the release, whatever the links ------------------------------

# Each link is harmless when made: u does not exist yet, so z reads as TOP/planted. Once u -> . exists,
# z leads four folders up from the release: out of the unpacking folder into the test's own folder.
CHAIN = [dict(name=f"{TOP}/z", type=tarfile.SYMTYPE, linkname="u/u/u/u/../../../../planted"),
         dict(name=f"{TOP}/u", type=tarfile.SYMTYPE, linkname=".")]
CHAIN_TO_A_FOLDER = [dict(CHAIN[0], linkname="u/u/u/u/../../../.."), CHAIN[1]]

# (members added to the fixture, words in the error)
HOSTILE_ARCHIVES = {
    "a chain of links, then a file of the same name": (CHAIN + [dict(name=f"{TOP}/z", data=b"owned")],
                                                        "given twice"),
    "a chain of links, then a file under it": (CHAIN_TO_A_FOLDER + [dict(name=f"{TOP}/z/planted", data=b"owned")],
                                               "under the link"),
    "a chain of links left leading out": (CHAIN, "links outside the release"),
    "a member named .": ([dict(name=".", data=b"owned")], "has no name"),
    "a member named TOP/.": ([dict(name=f"{TOP}/.", data=b"owned")], "given twice"),
    "a name given twice": ([dict(name=f"{TOP}/setup.py", data=b"owned")], "given twice"),
    "a hard link to a link": ([dict(name=f"{TOP}/s", type=tarfile.SYMTYPE, linkname="setup.py"),
                               dict(name=f"{TOP}/h", type=tarfile.LNKTYPE, linkname=f"{TOP}/s")], "hard link"),
    "a hard link to a later file": ([dict(name=f"{TOP}/h", type=tarfile.LNKTYPE, linkname=f"{TOP}/later"),
                                     dict(name=f"{TOP}/later", data=b"x")], "hard link"),
}


def install_hostile(tmp_path, archive):
    """./install from archive into tmp_path/root, unpacking under tmp_path/work; (result, tmp_path before)."""
    root, work = tmp_path / "root", tmp_path / "work"
    (root / "etc/rc.d").mkdir(parents=True)
    (root / "etc/rc.d/rc.local").write_text("#!/bin/sh\n/usr/sbin/ntpd\n")
    work.mkdir()
    before = tree_state(tmp_path)
    result = run_install("--root", root, "--tarball", archive, "--sha256", sha256_of(archive), "--yes",
                         env=dict(os.environ, TMPDIR=str(work)))
    return result, before


@pytest.mark.parametrize("case", HOSTILE_ARCHIVES)
def test_a_hostile_archive_writes_nothing_anywhere(fixture_tarball, tmp_path, case):
    members, complaint = HOSTILE_ARCHIVES[case]
    archive = hostile(fixture_tarball, tmp_path, *members)
    result, before = install_hostile(tmp_path, archive)
    assert_refused(result, tmp_path, before, complaint)
    assert not (tmp_path / "planted").exists()


def test_a_nameless_first_member_is_one_line(fixture_tarball, tmp_path):
    archive = write_tarball(tmp_path / f"{TOP}.tar.gz",
                            [(tarfile.TarInfo("."), b"owned"), *read_members(fixture_tarball)])
    result, before = install_hostile(tmp_path, archive)
    assert_refused(result, tmp_path, before, "has no name")


# ---- files placed in a folder another user owns (Roundcube's logs folder, the web server's) -----------

LOGS = "var/www/htdocs/roundcube/logs"
NOBODY = 65534


@pytest.fixture
def victim(tmp_path):
    path = tmp_path / "victim"
    path.write_text("root's secret\n")
    path.chmod(0o600)
    return path


def the_owner_swaps_names_for_links(monkeypatch, folder, victim):
    """Whenever root creates a name in folder or removes a name there, the folder's owner puts a link to victim
    in its place at once: the worst moment the real race can offer, every time."""
    real_open, real_unlink = os.open, os.unlink

    def swap(name):
        if os.path.lexists(name):
            real_unlink(name)
        os.symlink(victim, name)

    def open_and_swap(name, flags, *args, **kwargs):
        descriptor = real_open(name, flags, *args, **kwargs)
        if flags & os.O_CREAT and os.path.dirname(name) == str(folder):
            swap(name)
        return descriptor

    def unlink(name, *args, **kwargs):
        real_unlink(name, *args, **kwargs)
        if os.path.dirname(name) == str(folder) and not os.path.basename(name).startswith(".qf2b-"):
            swap(name)

    monkeypatch.setattr(os, "open", open_and_swap)
    monkeypatch.setattr(os, "unlink", unlink)


def transaction_on(root):
    """A Transaction on root with its journal where a run keeps it."""
    under(root, STATE_DIR).mkdir(parents=True, exist_ok=True)
    return Transaction(root, as_root=os.geteuid() == 0, journal=Journal(root))


def foreign_logs_folder(tmp_path):
    root = tmp_path / "root"
    (root / LOGS).mkdir(parents=True)
    os.chown(root / LOGS, NOBODY, NOBODY)
    return root


def test_an_empty_log_never_sets_mode_or_owner_through_a_name(tmp_path, victim, monkeypatch):
    root = foreign_logs_folder(tmp_path)
    victim_before = entry_state(victim)
    transaction = transaction_on(root)
    the_owner_swaps_names_for_links(monkeypatch, root / LOGS, victim)
    transaction.write(f"{LOGS}/userlogins", b"", 0o640, NOBODY, NOBODY)
    monkeypatch.undo()
    transaction.commit()
    assert entry_state(victim) == victim_before
    assert stat.S_IMODE(victim.stat().st_mode) == 0o600


def test_rollback_never_writes_or_sets_mode_through_a_name(tmp_path, victim, monkeypatch):
    root = foreign_logs_folder(tmp_path)
    log = root / LOGS / "userlogins"
    log.write_text("a login\n")
    os.chown(log, NOBODY, NOBODY)
    victim_before = entry_state(victim)
    transaction = transaction_on(root)
    transaction.write(f"{LOGS}/userlogins", b"", 0o640, NOBODY, NOBODY)
    the_owner_swaps_names_for_links(monkeypatch, root / LOGS, victim)
    transaction.rollback()
    monkeypatch.undo()
    assert entry_state(victim) == victim_before


def test_paths_under_the_root_of_a_live_host_are_inside_it():
    recorded = {"files": {"etc/fail2ban/jail.local": {"sha256": "0" * 64, "mode": "0o644"}}, "dirs": ["etc/fail2ban"]}
    assert manifest_file._path_problem("/", recorded) is None


def test_a_file_swapped_for_a_link_after_it_was_looked_at_is_never_copied_back(tmp_path, victim, monkeypatch):
    root = foreign_logs_folder(tmp_path)
    log = root / LOGS / "userlogins"
    log.write_text("a login\n")
    real_target_state = place.target_state

    def the_owner_swaps_it_once_looked_at(path):
        state = real_target_state(path)
        if path == log and not log.is_symlink():
            log.unlink()
            log.symlink_to(victim)
        return state

    monkeypatch.setattr(place, "target_state", the_owner_swaps_it_once_looked_at)
    transaction = transaction_on(root)
    with pytest.raises(OSError):
        transaction.write(f"{LOGS}/userlogins", b"", 0o640, NOBODY, NOBODY)
    transaction.rollback()
    for name in os.listdir(root / LOGS):
        path = root / LOGS / name
        assert path.is_symlink() or victim.read_bytes() not in path.read_bytes(), name
