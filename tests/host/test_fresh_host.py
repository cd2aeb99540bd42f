"""A fresh host, one command: ./install run as root on a throwaway host by a Python without configobj,
with the source releases saved in /usr/local/src, served by a mirror on the host's own 127.0.0.1, or
not to be had at all (the throwaway has no network beyond its loopback)."""

import shutil
import subprocess
from pathlib import Path

import pytest

from installer.shared import releases
from tests.support.install import CACHE, REPO, configobj_tarball, sha256_of
from tests.support.throwaway import changed_paths, merged_state
from tests.support.treestate import paths_state

SYSTEM_PYTHON = "/usr/bin/python3"
LIBRARY = "/usr/lib/qmail-fail2ban"
MIRROR_PORT = 8421


def imports_configobj(python):
    return subprocess.run([python, "-c", "import configobj"], stderr=subprocess.DEVNULL).returncode == 0


@pytest.fixture(scope="session")
def python_without_configobj():
    """The system's Python where it lacks configobj (Debian's does unless python3-configobj is there),
    else a venv of it without pip or site-packages: either way no configobj, and nothing installed."""
    if not imports_configobj(SYSTEM_PYTHON):
        return SYSTEM_PYTHON
    venv = CACHE / "venv-without-configobj"
    if not (venv / "bin/python3").exists():
        subprocess.run([SYSTEM_PYTHON, "-m", "venv", "--without-pip", str(venv)], check=True)
    return str(venv / "bin/python3")


@pytest.fixture(scope="session")
def configobj_release():
    return configobj_tarball()


def install_as(host, python, *args, timeout=300):
    command = " ".join([python, str(REPO / "install"), *map(str, args)])
    return host.run(f"cd {REPO} && {command}", timeout=timeout)


def one_error_line(result, *words):
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0 and len(lines) == 1, result.stdout + result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def untouched(host):
    """Whether the throwaway is exactly as it started: every path it wrote is back as it was."""
    touched = merged_state(host, changed_paths(host))
    return touched == paths_state(touched)


def source_folder(host):
    return host.run("ls -A /usr/local/src", check=True).stdout.split()


def test_saved_releases_install_with_a_python_without_configobj(throwaway, fixture_tarball, configobj_release,
                                                                 python_without_configobj):
    throwaway.run(f"cp {configobj_release} /usr/local/src/", check=True)
    result = install_as(throwaway, python_without_configobj, "--tarball", fixture_tarball,
                        "--sha256", sha256_of(fixture_tarball), "--yes", "--quiet")
    assert result.returncode == 0, result.stdout + result.stderr
    # configobj went into our own library, recorded in the manifest, and imports from there alone.
    manifest = throwaway.run("cat /var/lib/qmail-fail2ban/manifest", check=True).stdout
    assert f"{LIBRARY.lstrip('/')}/configobj/__init__.py" in manifest
    proof = throwaway.run(f"{python_without_configobj} -c 'import sys; sys.path.insert(0, \"{LIBRARY}\"); "
                          "import configobj, configobj.validate; print(configobj.__file__, configobj.__version__)'",
                          check=True)
    assert proof.stdout.split() == [f"{LIBRARY}/configobj/__init__.py", releases.CONFIGOBJ_VERSION]
    throwaway.run("/etc/rc.d/rc.fail2ban start", check=True, timeout=120)
    status = throwaway.run("/usr/sbin/qmail-f2b status", timeout=60)
    assert status.returncode == 0 and "custom" in status.stdout, status.stdout + status.stderr
    # Nothing went into any system Python.
    for python in sorted({SYSTEM_PYTHON, python_without_configobj}):
        assert throwaway.run(f"{python} -c 'import configobj'").returncode != 0, python
    # The run after changes nothing; uninstall takes configobj away with the rest.
    again = install_as(throwaway, python_without_configobj, "--tarball", fixture_tarball,
                       "--sha256", sha256_of(fixture_tarball), "--yes")
    assert again.returncode == 0 and "Nothing to do" in again.stdout, again.stdout + again.stderr
    removed = install_as(throwaway, python_without_configobj, "--uninstall", "--quiet")
    assert removed.returncode == 0, removed.stderr
    assert throwaway.run(f"test -e {LIBRARY}/configobj").returncode != 0


def test_nothing_saved_and_no_network_is_one_line_naming_the_download(throwaway, python_without_configobj):
    result = install_as(throwaway, python_without_configobj, "--yes")
    one_error_line(result, releases.download_url(releases.NEWEST),
                   f"/usr/local/src/{releases.saved_name(releases.NEWEST)}")
    assert untouched(throwaway)


def test_configobj_neither_saved_nor_reachable_is_one_line_naming_its_download(throwaway, fixture_tarball,
                                                                               python_without_configobj):
    result = install_as(throwaway, python_without_configobj, "--tarball", fixture_tarball,
                        "--sha256", sha256_of(fixture_tarball), "--yes")
    one_error_line(result, releases.CONFIGOBJ_FETCH, f"/usr/local/src/{releases.CONFIGOBJ_SOURCE_RELEASE}")
    assert untouched(throwaway)


def serve(host, folder):
    """A plain HTTP server on the throwaway's 127.0.0.1 (it dies with the host); its base URL."""
    # Its output goes nowhere, so the shell that starts it can return at once.
    host.run(f"{SYSTEM_PYTHON} -m http.server --directory {folder} --bind 127.0.0.1 {MIRROR_PORT} "
             "</dev/null >/dev/null 2>&1 &", check=True)
    probe = (f"{SYSTEM_PYTHON} -c 'import socket; socket.create_connection((\"127.0.0.1\", {MIRROR_PORT}), 1)'")
    host.run(f"for attempt in $(seq 50); do {probe} 2>/dev/null && exit 0; sleep 0.1; done; exit 1", check=True)
    return f"http://127.0.0.1:{MIRROR_PORT}"


def mirror_folder(tmp_path, fixture_tarball, configobj_release, spoil=None):
    """A mirror's folder as the installer asks it: X.Y.Z.tar.gz and configobj's source release."""
    folder = tmp_path / "mirror"
    folder.mkdir()
    data = bytearray(Path(fixture_tarball).read_bytes())
    if spoil == "tampered":
        data[len(data) // 2] ^= 0x01
    elif spoil == "truncated":
        data = data[:len(data) * 2 // 3]
    if spoil != "missing":
        (folder / releases.archive_name("1.0.2")).write_bytes(bytes(data))
    shutil.copy(configobj_release, folder)
    folder.chmod(0o755)
    return folder


def test_a_mirror_on_loopback_serves_both_releases(throwaway, tmp_path, fixture_tarball, configobj_release,
                                                   python_without_configobj):
    url = serve(throwaway, mirror_folder(tmp_path, fixture_tarball, configobj_release))
    result = install_as(throwaway, python_without_configobj, "--release", "1.0.2", "--mirror", url,
                        "--sha256", sha256_of(fixture_tarball), "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Downloading {url}/1.0.2.tar.gz" in result.stdout
    saved = source_folder(throwaway)
    assert {"fail2ban-1.0.2.tar.gz", releases.CONFIGOBJ_SOURCE_RELEASE} <= set(saved), saved
    assert not [name for name in saved if name.startswith(".")], saved
    version = throwaway.run("/usr/bin/fail2ban-client -V", check=True).stdout
    assert version.strip().endswith("1.0.2")


SPOILED = {"tampered": ("refusing what {url}/1.0.2.tar.gz sent", "sha256 mismatch"),
           "truncated": ("refusing what {url}/1.0.2.tar.gz sent", "sha256 mismatch"),
           "missing": ("cannot download {url}/1.0.2.tar.gz (HTTP 404", "/usr/local/src/fail2ban-1.0.2.tar.gz")}


@pytest.mark.parametrize("spoil", sorted(SPOILED))
def test_a_spoiled_download_is_refused_and_leaves_nothing(throwaway, tmp_path, fixture_tarball, configobj_release,
                                                          python_without_configobj, spoil):
    url = serve(throwaway, mirror_folder(tmp_path, fixture_tarball, configobj_release, spoil))
    before = source_folder(throwaway)
    result = install_as(throwaway, python_without_configobj, "--release", "1.0.2", "--mirror", url,
                        "--sha256", sha256_of(fixture_tarball), "--yes")
    one_error_line(result, *(words.format(url=url) for words in SPOILED[spoil]))
    assert source_folder(throwaway) == before
    assert untouched(throwaway)
