"""Bad input of every kind: one clear error line, a non-zero exit, and the target exactly as it was."""

import json
import shutil
import subprocess
import sys
import tarfile

import pytest

from installer.shared import releases
from tests.fixture.variants import with_extra_members, with_version, without
from tests.support.install import REPO, install_command, run_install, sha256_of
from tests.support.pythons import newer_pythons
from tests.support.treestate import tree_state

TOP = "fail2ban-1.0.2"


@pytest.fixture
def root(tmp_path):
    """A target that already holds something, so 'as it was' means more than 'empty'."""
    root = tmp_path / "root"
    (root / "etc/rc.d").mkdir(parents=True)
    (root / "etc/rc.d/rc.local").write_text("#!/bin/sh\n/usr/sbin/ntpd\n")
    return root


def assert_refused(result, root, before, *words):
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("install: error: "), lines[0]
    for word in words:
        assert word in lines[0], lines[0]
    assert tree_state(root) == before


def refused(root, *args):
    before = tree_state(root)
    return run_install("--root", root, "--yes", *args), before


def hostile(fixture, tmp_path, *members):
    path = tmp_path / f"{TOP}.tar.gz"
    return with_extra_members(fixture, path, *members)


def test_wrong_sha256(root, fixture_tarball):
    result, before = refused(root, "--tarball", fixture_tarball, "--sha256", "0" * 64)
    assert_refused(result, root, before, "sha256 mismatch", sha256_of(fixture_tarball))


def test_digest_nobody_vouches_for_is_printed_for_comparison(root, fixture_tarball):
    result, before = refused(root, "--tarball", fixture_tarball)
    assert_refused(result, root, before, sha256_of(fixture_tarball), "--sha256")


def test_sha256_file_beside_the_tarball_that_disagrees(root, fixture_tarball, tmp_path):
    copy = tmp_path / fixture_tarball.name
    shutil.copy(fixture_tarball, copy)
    (tmp_path / "SHA256SUMS").write_text(f"{'1' * 64}  {copy.name}\n")
    result, before = refused(root, "--tarball", copy)
    assert_refused(result, root, before, "sha256 mismatch", "SHA256SUMS")


def test_malformed_sha256_option(root, fixture_tarball):
    result, before = refused(root, "--tarball", fixture_tarball, "--sha256", "xyz")
    assert_refused(result, root, before, "64 hexadecimal")


@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
def test_truncated_or_corrupt_gzip(root, fixture_tarball, tmp_path, damage):
    data = bytearray(fixture_tarball.read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 2]
    else:
        for offset in range(2000, 2100):
            data[offset] ^= 0xFF
    broken = tmp_path / fixture_tarball.name
    broken.write_bytes(bytes(data))
    result, before = refused(root, "--tarball", broken, "--sha256", sha256_of(broken))
    assert_refused(result, root, before, fixture_tarball.name)


def test_not_a_fail2ban_tarball(root, fixture_tarball, tmp_path):
    stripped = without(fixture_tarball, tmp_path / fixture_tarball.name, "/setup.py", "fail2ban/version.py")
    result, before = refused(root, "--tarball", stripped, "--sha256", sha256_of(stripped))
    assert_refused(result, root, before, "not a fail2ban release")


def test_some_other_archive(root, tmp_path):
    other = tmp_path / "fail2ban-1.0.2.tar.gz"
    readme = tmp_path / "README"
    readme.write_text("not fail2ban\n")
    with tarfile.open(other, "w:gz") as archive:
        archive.add(readme, arcname="something-else/README")
    result, before = refused(root, "--tarball", other, "--sha256", sha256_of(other))
    assert_refused(result, root, before, "not a fail2ban release")


@pytest.mark.parametrize("member, complaint", [
    (dict(name=f"{TOP}/../escaped", data=b"x"), "'..'"),
    (dict(name="/etc/cron.d/evil", data=b"x"), "absolute"),
    (dict(name=f"{TOP}/dev-null", type=tarfile.CHRTYPE, devmajor=1, devminor=3), "device"),
    (dict(name=f"{TOP}/pipe", type=tarfile.FIFOTYPE), "fifo"),
    (dict(name=f"{TOP}/hard", type=tarfile.LNKTYPE, linkname="etc/passwd"), "links outside"),
    (dict(name="other-top/file", data=b"x"), "outside the single top folder"),
])
def test_hostile_members(root, fixture_tarball, tmp_path, member, complaint):
    archive = hostile(fixture_tarball, tmp_path, member)
    result, before = refused(root, "--tarball", archive, "--sha256", sha256_of(archive))
    assert_refused(result, root, before, complaint)


def test_symlink_out_of_the_release_then_a_file_written_through_it(root, fixture_tarball, tmp_path):
    target = tmp_path / "outside"
    target.mkdir()
    archive = hostile(fixture_tarball, tmp_path,
                      dict(name=f"{TOP}/escape", type=tarfile.SYMTYPE, linkname=str(target)),
                      dict(name=f"{TOP}/escape/planted", data=b"owned"))
    result, before = refused(root, "--tarball", archive, "--sha256", sha256_of(archive))
    assert_refused(result, root, before, "links outside")
    assert list(target.iterdir()) == []


def test_symlinks_that_chain_out_of_the_release(root, fixture_tarball, tmp_path):
    archive = hostile(fixture_tarball, tmp_path,
                      dict(name=f"{TOP}/a/b", type=tarfile.SYMTYPE, linkname=".."),
                      dict(name=f"{TOP}/a/b/c", type=tarfile.SYMTYPE, linkname="../.."),
                      dict(name=f"{TOP}/a/b/c/planted", data=b"owned"))
    result, before = refused(root, "--tarball", archive, "--sha256", sha256_of(archive))
    assert_refused(result, root, before, "link")
    assert not (tmp_path / "planted").exists()


def test_release_too_old(root, fixture_tarball, tmp_path):
    old = with_version(fixture_tarball, tmp_path, "0.11.2")
    result, before = refused(root, "--tarball", old, "--sha256", sha256_of(old))
    assert_refused(result, root, before, "too old")


NEWER_PYTHONS = newer_pythons()


def test_python_rule_for_releases():
    assert releases.python_problem("1.0.2", (3, 12)).startswith("fail2ban 1.0.2 cannot run on Python 3.12")
    assert "use fail2ban 1.1.x" in releases.python_problem("1.0.2", (3, 13))
    assert releases.python_problem("1.1.1", (3, 13)) is None
    assert releases.python_problem("1.0.2", (3, 11)) is None
    assert releases.python_problem("1.1.0", (3, 13)) is None
    assert "too old" in releases.python_problem("0.11.2", (3, 9))


@pytest.mark.skipif(not NEWER_PYTHONS, reason="no Python 3.12 or newer on this machine")
@pytest.mark.parametrize("version", sorted(NEWER_PYTHONS))
def test_release_that_cannot_run_on_this_python(root, fixture_tarball, version):
    """1.0.x on Python 3.12+ is refused in one line that names the releases that run there."""
    result, before = refused(root, "--tarball", fixture_tarball, "--sha256", sha256_of(fixture_tarball),
                             "--python", NEWER_PYTHONS[version])
    assert_refused(result, root, before, f"cannot run on Python {version}", "use fail2ban 1.1.x")


def test_unknown_option(root):
    result, before = refused(root, "--frobnicate")
    assert_refused(result, root, before, "unrecognized arguments: --frobnicate")


def test_root_pointing_at_a_regular_file(tmp_path, fixture_tarball):
    regular = tmp_path / "a-file"
    regular.write_text("not a folder\n")
    result = run_install("--root", regular, "--tarball", fixture_tarball, "--yes")
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [f"install: error: --root {regular} is not a folder: "
                                                  "give a folder to stage into"]
    assert regular.read_text() == "not a folder\n"


def test_missing_tarball_file(root):
    result, before = refused(root, "--tarball", "/nonexistent/fail2ban-1.1.0.tar.gz")
    assert_refused(result, root, before, "no such file")


def test_no_tarball_anywhere_and_no_network_says_what_to_download_and_where_to_save_it(root):
    before = tree_state(root)
    result = run_install("--root", root, "--yes", offline=True)
    assert_refused(result, root, before, releases.download_url(releases.NEWEST),
                   f"{root}/usr/local/src/fail2ban-{releases.NEWEST}.tar.gz")


def test_the_default_release_saved_under_githubs_name_is_found_and_its_content_checked(root, fixture_tarball):
    """GitHub's name for the release (1.1.1.tar.gz) is looked for too; the archive must then hold that
    release: the fixture (1.0.2) vouched for with --sha256 is found and refused for what it holds."""
    source = root / "usr/local/src"
    source.mkdir(parents=True)
    shutil.copy(fixture_tarball, source / f"{releases.NEWEST}.tar.gz")
    result, before = refused(root, "--sha256", sha256_of(fixture_tarball))
    assert_refused(result, root, before, f"{releases.NEWEST}.tar.gz holds fail2ban 1.0.2, not {releases.NEWEST}")


def test_mirror_that_is_not_http(root):
    result, before = refused(root, "--mirror", "file:///srv/mirror")
    assert_refused(result, root, before, "--mirror file:///srv/mirror: give an http:// or https:// URL")


def test_release_that_is_not_a_version(root):
    result, before = refused(root, "--release", "latest")
    assert_refused(result, root, before, "--release latest: give a release as X.Y.Z")


def test_not_root_without_root_option(tmp_path, fixture_tarball):
    command = install_command("--tarball", fixture_tarball, "--yes")
    result = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd="/")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "must run as root" in lines[0], result.stderr


def test_a_read_only_target_gets_one_line_and_stays_as_it_was(tmp_path, fixture_tarball):
    """The system refusing a write mid-install (here a read-only file system) is one line too."""
    root = tmp_path / "readonly"
    root.mkdir()
    command = " ".join(install_command("--root", root, "--tarball", fixture_tarball, "--sha256",
                                       sha256_of(fixture_tarball), "--yes", "--quiet"))
    state = f"{sys.executable} {REPO / 'tests/support/treestate.py'} {root}"
    script = (f"mount -t tmpfs -o size=200m tmpfs {root} && mkdir -p {root}/etc/fail2ban && "
              f"echo mine > {root}/etc/fail2ban/jail.local && mount -o remount,ro {root} && "
              f"{state} && {command}; echo \"exit $?\" && {state}")
    result = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300)
    before, exit_line, after = result.stdout.strip().splitlines()
    assert exit_line == "exit 1", result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("install: error: cannot use "), result.stderr
    assert "Read-only file system" in lines[0]
    assert json.loads(before) == json.loads(after)
