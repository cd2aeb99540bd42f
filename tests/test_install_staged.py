"""./install --root: a staged install, re-runs, the .new rule, upgrades, rollback and uninstall."""

import json
import os
import shutil
import subprocess
import sys

import pytest
import testinfra

from tests.fixture.variants import with_version
from tests.support.install import REPO, run_install, sha256_of, stage_install
from tests.support.treestate import tree_state

local = testinfra.get_host("local://")


def install_into(root, tarball, *extra):
    return run_install("--root", root, "--tarball", tarball, "--sha256", sha256_of(tarball), "--yes", *extra)


@pytest.fixture
def root(tmp_path):
    return tmp_path / "root"


def test_staged_files_modes_and_owners(staged):
    root = staged.root
    expectations = {
        "etc/fail2ban/jail.conf": 0o644, "etc/fail2ban/jail.local": 0o644,
        "etc/fail2ban/fail2ban.d/qmail-fail2ban.conf": 0o644,
        "etc/fail2ban/filter.d/sshd.conf": 0o644, "etc/rc.d/rc.fail2ban": 0o755,
        "etc/logrotate.d/fail2ban": 0o644, "usr/bin/fail2ban-client": 0o755, "usr/bin/fail2ban-server": 0o755,
        "etc/rc.d/rc.local": 0o755, "etc/rc.d/rc.local_shutdown": 0o755,
        "var/lib/qmail-fail2ban/manifest": 0o644, "usr/local/src/fail2ban-1.0.2/setup.py": 0o644,
    }
    for relative, mode in expectations.items():
        checked = local.file(str(root / relative))
        assert checked.is_file, relative
        assert checked.mode == mode, relative
        assert checked.user == "root" and checked.group == "root", relative
    for folder in ("etc/fail2ban/jail.d", "etc/fail2ban/fail2ban.d", "var/lib/fail2ban"):
        assert local.file(str(root / folder)).is_directory
    assert local.file(str(root / "usr/bin/fail2ban-python")).is_symlink


def test_staged_client_runs_and_names_the_release(staged):
    result = staged.run("fail2ban-client", "-V")
    assert result.returncode == 0 and result.stdout.strip().endswith("1.0.2")
    assert staged.run("fail2ban-client", "-c", staged.confdir, "-t").returncode == 0


def test_our_files_land_as_in_the_repo(staged):
    assert (staged.root / "etc/rc.d/rc.fail2ban").read_bytes() == (REPO / "rc.d/rc.fail2ban").read_bytes()
    for path in (REPO / "filter.d").iterdir():
        assert (staged.confdir / "filter.d" / path.name).read_bytes() == path.read_bytes()


def test_manifest_records_every_file_with_its_digest(staged):
    manifest = json.loads((staged.root / "var/lib/qmail-fail2ban/manifest").read_text())
    assert manifest["release"]["version"] == "1.0.2"
    assert "etc/fail2ban/jail.local" in manifest["files"]
    assert any(path.endswith("fail2ban/server/server.py") for path in manifest["files"])
    for path, record in manifest["files"].items():
        assert sha256_of(staged.root / path) == record["sha256"], path


def test_rerun_changes_nothing_and_says_so(root, fixture_tarball):
    assert install_into(root, fixture_tarball).returncode == 0
    before = tree_state(root)
    again = install_into(root, fixture_tarball)
    assert again.returncode == 0
    assert "Nothing to do" in again.stdout
    assert tree_state(root) == before


def test_admin_edited_jail_local_is_kept_and_new_version_goes_beside(root, fixture_tarball):
    install_into(root, fixture_tarball, "--quiet")
    jail_local = root / "etc/fail2ban/jail.local"
    original = jail_local.read_bytes()
    jail_local.write_bytes(original + b"\n# the admin's own line\n")
    result = install_into(root, fixture_tarball, "--quiet")
    assert result.returncode == 0
    assert jail_local.read_bytes().endswith(b"# the admin's own line\n")
    assert (root / "etc/fail2ban/jail.local.new").read_bytes() == original
    assert "jail.local.new" in result.stdout


def test_hand_made_jail_local_from_the_tutorial_is_never_overwritten(root, fixture_tarball):
    (root / "etc/fail2ban").mkdir(parents=True)
    (root / "etc/fail2ban/jail.local").write_text("[DEFAULT]\nbantime = 600\n")
    result = install_into(root, fixture_tarball, "--quiet")
    assert result.returncode == 0, result.stderr
    assert (root / "etc/fail2ban/jail.local").read_text() == "[DEFAULT]\nbantime = 600\n"
    assert (root / "etc/fail2ban/jail.local.new").is_file()


def test_uninstall_restores_the_tree_except_the_admins_files(root, fixture_tarball):
    root.mkdir()
    (root / "etc/rc.d").mkdir(parents=True)
    (root / "etc/rc.d/rc.local").write_text("#!/bin/sh\n/usr/sbin/ntpd\n")
    before = tree_state(root)
    install_into(root, fixture_tarball, "--quiet")
    assert "rc.fail2ban start" in (root / "etc/rc.d/rc.local").read_text()
    (root / "etc/fail2ban/jail.local").write_text("# mine now\n")
    result = run_install("--root", root, "--uninstall")
    assert result.returncode == 0, result.stderr
    assert "Kept" in result.stdout and "jail.local" in result.stdout
    after = tree_state(root)
    for kept in ("etc/fail2ban", "etc/fail2ban/jail.local"):
        after.pop(kept)
    assert after == before


def test_upgrade_replaces_the_release_in_place(root, fixture_tarball, tmp_path):
    install_into(root, fixture_tarball, "--quiet")
    newer = with_version(fixture_tarball, tmp_path, "1.0.3")
    result = install_into(root, newer)
    assert result.returncode == 0, result.stderr
    manifest = json.loads((root / "var/lib/qmail-fail2ban/manifest").read_text())
    assert manifest["release"]["version"] == "1.0.3"
    assert (root / "usr/local/src/fail2ban-1.0.3/setup.py").is_file()
    assert not (root / "usr/local/src/fail2ban-1.0.2").exists()
    site_dir = root / manifest["release"]["site_dir"].lstrip("/")
    assert 'version = "1.0.3"' in (site_dir / "fail2ban/version.py").read_text()


def test_a_configuration_fail2ban_rejects_rolls_everything_back(root, fixture_tarball):
    (root / "etc/fail2ban/jail.d").mkdir(parents=True)
    (root / "etc/fail2ban/jail.d/broken.local").write_text("[sshd\nenabled = maybe\n")
    before = tree_state(root)
    result = install_into(root, fixture_tarball)
    assert result.returncode != 0
    assert "fail2ban rejects the configuration" in result.stderr
    assert tree_state(root) == before


def test_dry_run_lists_files_and_changes_nothing(root, fixture_tarball):
    root.mkdir()
    result = install_into(root, fixture_tarball, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert f"would write {root}/etc/fail2ban/jail.local" in result.stdout
    assert f"would write {root}/etc/rc.d/rc.fail2ban" in result.stdout
    assert list(root.iterdir()) == []


def test_progress_lines_are_numbered_and_timed(root, fixture_tarball):
    result = install_into(root, fixture_tarball)
    steps = [line for line in result.stdout.splitlines() if line.startswith("[")]
    assert len(steps) == 8
    assert steps[3].startswith("[4/8] Building fail2ban 1.0.2") and steps[3].endswith(" s)")


def test_tarball_found_in_usr_local_src_with_a_sha256_file_beside_it(root, fixture_tarball):
    """The release asked for (--release; the default is the newest) is taken from /usr/local/src."""
    source = root / "usr/local/src"
    source.mkdir(parents=True)
    shutil.copy(fixture_tarball, source)
    (source / (fixture_tarball.name + ".sha256")).write_text(f"{sha256_of(fixture_tarball)}  {fixture_tarball.name}\n")
    result = run_install("--root", root, "--release", "1.0.2", "--yes", "--quiet", offline=True)
    assert result.returncode == 0, result.stderr
    assert (root / "usr/bin/fail2ban-client").is_file()


def test_staging_twice_into_separate_roots_gives_identical_trees(tmp_path, fixture_tarball):
    first = stage_install(tmp_path / "a", fixture_tarball).root
    second = stage_install(tmp_path / "b", fixture_tarball).root
    assert tree_state(first) == tree_state(second)


def test_systemd_host_without_rc_local_gets_fail2bans_own_unit_enabled(root, fixture_tarball):
    (root / "run/systemd/system").mkdir(parents=True)
    result = install_into(root, fixture_tarball, "--quiet")
    assert result.returncode == 0, result.stderr
    unit = (root / "etc/systemd/system/fail2ban.service").read_text()
    assert "ExecStart=/usr/bin/fail2ban-server -xf start" in unit
    wanted = root / "etc/systemd/system/multi-user.target.wants/fail2ban.service"
    assert wanted.is_symlink() and str(wanted.readlink()) == "/etc/systemd/system/fail2ban.service"
    assert not (root / "etc/rc.d/rc.local").exists()
    assert run_install("--root", root, "--uninstall", "--quiet").returncode == 0
    assert not wanted.is_symlink() and not (root / "etc/systemd").exists()


def test_jail_whose_log_folder_exists_is_enabled_and_its_empty_log_created(root, fixture_tarball):
    (root / "var/log/dovecot").mkdir(parents=True)
    result = install_into(root, fixture_tarball, "--quiet")
    assert result.returncode == 0, result.stderr
    log = root / "var/log/dovecot/dovecot.log"
    assert log.is_file() and log.stat().st_size == 0
    jail_local = (root / "etc/fail2ban/jail.local").read_text()
    assert "[dovecot]\nenabled = true" in jail_local
    assert run_install("--root", root, "--uninstall", "--quiet").returncode == 0
    assert not log.exists() and (root / "var/log/dovecot").is_dir()


def test_fail2bans_log_is_created_for_root_and_adm_and_service_logs_like_their_folder(root, fixture_tarball):
    (root / "etc").mkdir(parents=True)
    (root / "etc/group").write_text("root:x:0:\nadm:x:4:\nwww:x:33:\n")
    (root / "var/log").mkdir(parents=True)
    logs = root / "var/www/htdocs/roundcube/logs"
    logs.mkdir(parents=True)
    os.chown(logs, 33, 33)
    assert install_into(root, fixture_tarball, "--quiet").returncode == 0
    own_log = local.file(str(root / "var/log/fail2ban.log"))
    assert (own_log.mode, own_log.uid, own_log.gid) == (0o640, 0, 4)
    userlogins = local.file(str(logs / "userlogins"))
    assert (userlogins.mode, userlogins.uid, userlogins.gid) == (0o640, 33, 33)


def test_a_python_that_reads_nothing_from_usr_gets_fail2ban_in_its_own_site_packages(root, fixture_tarball):
    """--python naming a Python outside /usr (here the venv running the tests, when it is one) is not
    refused: fail2ban's package goes into that Python's own site-packages, and runs from there."""
    facts = subprocess.run([sys.executable, "-c", "import json, sys; print(json.dumps([sys.prefix, sys.path]))"],
                           stdout=subprocess.PIPE, text=True, check=True)
    prefix, sys_path = json.loads(facts.stdout)
    if any(entry.startswith("/usr/") for entry in sys_path):
        pytest.skip("the Python running the tests imports from /usr")
    result = install_into(root, fixture_tarball, "--python", sys.executable, "--quiet")
    assert result.returncode == 0, result.stderr
    site_dir = json.loads((root / "var/lib/qmail-fail2ban/manifest").read_text())["release"]["site_dir"]
    assert site_dir.startswith(f"{prefix}/lib/python") and site_dir.endswith("/site-packages"), site_dir
    assert (root / site_dir.lstrip("/") / "fail2ban/version.py").is_file()
