"""Who may decide what root builds: a tarball swapped after its digest was checked is never the one built,
and a digest beside the tarball vouches only when nobody but root could have written it."""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.fixture.variants import read_members, write_tarball
from tests.support.install import REPO, install_command, run_install, sha256_of
from tests.support.treestate import tree_state

NOBODY = 65534
SWAPPER = REPO / "tests/support/swapper.py"
SWAP_SECONDS = 120
SYSTEM_PYTHON = "/usr/bin/python3"
SAME_CPU = ["taskset", "--cpu-list", str(min(os.sched_getaffinity(0)))]
FIRST_TO_RUN = ["chrt", "--fifo", "1"]       # set by root, kept once setpriv drops to nobody
AS_NOBODY = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


@pytest.fixture
def drop():
    """A folder nobody may write, reachable by nobody (pytest's own tmp folders are root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="qf2b-drop-"))
    os.chmod(folder, 0o755)
    os.chown(folder, NOBODY, NOBODY)
    yield folder
    shutil.rmtree(folder)


def with_setup_marking(tarball, path, marker):
    """The release with a setup.py that also creates `marker`: proof that root ran this one."""
    members = []
    for info, data in read_members(tarball):
        if data is not None and info.name.count("/") == 1 and info.name.endswith("/setup.py"):
            data += f"\nopen({str(marker)!r}, 'w').close()\n".encode()
        members.append((info, data))
    return write_tarball(path, members)


def owned_by_nobody(path):
    os.chown(path, NOBODY, NOBODY)
    return path


def setup_py_of(tarball):
    return next(data for info, data in read_members(tarball)
                if info.name.count("/") == 1 and info.name.endswith("/setup.py"))


@pytest.mark.parametrize("which", ["fail2ban", "pyinotify"])
def test_tarball_swapped_after_it_is_opened_is_never_built(tmp_path, drop, fixture_tarball, pyinotify_tarball,
                                                           which):
    attacked = fixture_tarball if which == "fail2ban" else pyinotify_tarball
    marker = tmp_path / "root-ran-the-swapped-setup.py"
    owned_by_nobody(shutil.copy(attacked, drop / attacked.name))
    owned_by_nobody(with_setup_marking(attacked, drop / ".swapped.tar.gz", marker))
    fail2ban = drop / attacked.name if which == "fail2ban" else fixture_tarball
    pyinotify = drop / attacked.name if which == "pyinotify" else pyinotify_tarball
    # The system's Python, given the script's text: nobody may not reach the checkout or its venv. The
    # attacker and ./install share one CPU and the attacker runs first whenever it can, so the swap
    # lands as soon as the tarball is opened, as an attacker who arranges the scheduling would have it.
    swapper = subprocess.Popen([*SAME_CPU, *FIRST_TO_RUN, *AS_NOBODY, SYSTEM_PYTHON, "-c", SWAPPER.read_text(),
                                str(drop), attacked.name, ".swapped.tar.gz", str(SWAP_SECONDS)],
                               stdout=subprocess.PIPE, text=True, cwd="/")
    try:
        assert swapper.stdout.readline().strip() == "ready"
        root = tmp_path / "root"
        command = install_command("--root", root, "--tarball", fail2ban, "--sha256", sha256_of(fixture_tarball),
                                  "--pyinotify-tarball", pyinotify, "--pyinotify-sha256", sha256_of(pyinotify_tarball),
                                  "--yes", "--quiet")
        result = subprocess.run([*SAME_CPU, *command], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, timeout=300)
        assert swapper.wait(timeout=SWAP_SECONDS) == 0 and swapper.stdout.read().strip() == "swapped"
    finally:
        if swapper.poll() is None:
            swapper.kill()
            swapper.wait()
    assert sha256_of(drop / attacked.name) != sha256_of(attacked)     # the swap did land
    assert not marker.exists(), "root ran the setup.py of the tarball swapped in after the check"
    assert result.returncode == 0, result.stderr
    source = root / "usr/local/src/fail2ban-1.0.2"
    if which == "fail2ban":
        assert (source / "setup.py").read_bytes() == setup_py_of(fixture_tarball)


def refused(root, *args):
    before = tree_state(root)
    return run_install("--root", root, "--yes", *args), before


@pytest.mark.parametrize("weakness", ["owned by nobody", "in a folder others may write", "group-writable"])
def test_digest_beside_the_tarball_that_others_could_write_does_not_vouch(tmp_path, drop, fixture_tarball,
                                                                         weakness):
    folder = drop
    if weakness == "in a folder others may write":
        folder = drop / "shared"
        folder.mkdir()
        os.chmod(folder, 0o1777)
    else:
        os.chown(drop, 0, 0)
    tarball = Path(shutil.copy(fixture_tarball, folder / fixture_tarball.name))
    side_file = folder / (tarball.name + ".sha256")
    side_file.write_text(f"{sha256_of(tarball)}  {tarball.name}\n")
    os.chmod(side_file, 0o664 if weakness == "group-writable" else 0o644)
    if weakness == "owned by nobody":
        owned_by_nobody(side_file)
    root = tmp_path / "root"
    root.mkdir()
    result, before = refused(root, "--tarball", tarball)
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0 and len(lines) == 1, result.stderr
    assert "nothing vouches for" in lines[0] and f"ignored {side_file}" in lines[0], lines[0]
    assert tree_state(root) == before


def test_digest_beside_the_tarball_that_only_root_could_write_vouches(tmp_path, fixture_tarball):
    folder = tmp_path / "src"
    folder.mkdir(mode=0o755)
    tarball = Path(shutil.copy(fixture_tarball, folder / fixture_tarball.name))
    (folder / "SHA256SUMS").write_text(f"{sha256_of(tarball)}  {tarball.name}\n")
    result = run_install("--root", tmp_path / "root", "--tarball", tarball, "--yes", "--quiet")
    assert result.returncode == 0, result.stderr
