"""One run at a time: a second ./install or --uninstall while one runs refuses at once, naming it, and
changes nothing; a rollback takes back only what its own run wrote."""

import fcntl
import os
import subprocess
import time

import pytest

from tests.support.install import install_command, run_install, sha256_of, stage_install
from tests.support.treestate import tree_state

LOCK = "var/lib/qmail-fail2ban/lock"
DEADLINE_SECONDS = 120


def install_args(root, tarball, *extra):
    return ("--root", root, "--tarball", tarball, "--sha256", sha256_of(tarball), "--yes", "--quiet", *extra)


def assert_refused_naming(result, pid):
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0
    assert len(lines) == 1 and lines[0].startswith("install: error: "), result.stderr
    assert f"pid {pid}" in lines[0] and "running" in lines[0], lines[0]


@pytest.fixture
def lock_held_by_us():
    """Hold the lock of a root as a running ./install would: flock, its pid inside."""
    held = []

    def hold(root):
        lock = root / LOCK
        lock.parent.mkdir(parents=True, exist_ok=True)
        stream = open(lock, "w")
        fcntl.flock(stream, fcntl.LOCK_EX | fcntl.LOCK_NB)
        stream.write(f"{os.getpid()}\n")
        stream.flush()
        held.append(stream)
        return os.getpid()

    yield hold
    for stream in held:
        stream.close()


@pytest.mark.parametrize("action", ["install", "uninstall"])
def test_a_run_while_another_holds_the_lock_refuses_and_changes_nothing(tmp_path, fixture_tarball,
                                                                        lock_held_by_us, action):
    root = tmp_path / "root"
    if action == "uninstall":
        stage_install(root, fixture_tarball)
    pid = lock_held_by_us(root)
    before = tree_state(root)
    args = ("--root", root, "--uninstall") if action == "uninstall" else install_args(root, fixture_tarball)
    result = run_install(*args)
    assert_refused_naming(result, pid)
    assert tree_state(root) == before


def test_two_installs_at_once_one_refuses_the_other_completes(tmp_path, fixture_tarball):
    root = tmp_path / "root"
    first = subprocess.Popen(install_command(*install_args(root, fixture_tarball)), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + DEADLINE_SECONDS
        while time.monotonic() < deadline and first.poll() is None:
            try:
                if (root / LOCK).read_text().strip() == str(first.pid):
                    break
            except FileNotFoundError:
                pass
            time.sleep(0.005)
        assert first.poll() is None, "the first run ended before it was seen holding the lock"
        second = run_install(*install_args(root, fixture_tarball))
        assert_refused_naming(second, first.pid)
        _, errors = first.communicate(timeout=300)
        assert first.returncode == 0, errors
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    alone = stage_install(tmp_path / "alone", fixture_tarball).root
    assert tree_state(root) == tree_state(alone)


def test_rollback_keeps_what_another_process_put_in_a_folder_the_run_created(tmp_path, fixture_tarball):
    root = tmp_path / "root"
    (root / "etc/fail2ban/jail.d").mkdir(parents=True)
    (root / "etc/fail2ban/jail.d/broken.local").write_text("[sshd\nenabled = maybe\n")
    before = tree_state(root)
    created = root / "usr/local/src/fail2ban-1.0.2"
    theirs = created / "NOTES.admin"
    run = subprocess.Popen(install_command(*install_args(root, fixture_tarball)), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + DEADLINE_SECONDS
        while time.monotonic() < deadline and run.poll() is None and not created.is_dir():
            time.sleep(0.001)
        theirs.write_text("written while ./install ran\n")
        _, errors = run.communicate(timeout=300)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode != 0 and "fail2ban rejects the configuration" in errors
    assert theirs.is_file(), "the rollback removed a file another process wrote in a folder the run created"
    assert theirs.read_text() == "written while ./install ran\n"
    after = tree_state(root)
    for kept in ("usr", "usr/local", "usr/local/src", "usr/local/src/fail2ban-1.0.2",
                 "usr/local/src/fail2ban-1.0.2/NOTES.admin"):
        assert after.pop(kept) is not None, kept
    assert after == before


def test_a_journal_this_installer_did_not_write_refuses_and_changes_nothing(tmp_path, fixture_tarball):
    root = tmp_path / "root"
    journal = root / "var/lib/qmail-fail2ban/journal"
    journal.parent.mkdir(parents=True)
    journal.write_text('{"undo": "remove", "path": "../../etc/passwd"}\n{"undo": "rmdir", "path": "etc"}\n')
    before = tree_state(root)
    result = run_install(*install_args(root, fixture_tarball))
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0 and len(lines) == 1, result.stderr
    assert "journal is damaged at line 1" in lines[0], lines[0]
    assert tree_state(root) == before
