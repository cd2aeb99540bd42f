"""installer.pipeline.logwatch against real interpreters: with pyinotify, without it, and on a Python
that cannot import it."""

import glob
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from installer.pipeline.logwatch import fastest_log_backend, polling_advice, pyinotify_file
from tests.support.install import CACHE
from tests.support.pythons import newer_pythons


def pyinotify_source(tmp_path):
    """Debian's pyinotify.py: the system Python's where python3-pyinotify is installed, else the package's."""
    found = subprocess.run(["/usr/bin/python3", "-c", "import pyinotify; print(pyinotify.__file__)"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    if found.returncode == 0:
        return Path(found.stdout.strip())
    packages = sorted(glob.glob(str(CACHE / "python3-pyinotify_*.deb")))
    if not packages:
        pytest.skip("neither python3-pyinotify nor its package (tests/.cache) is here")
    subprocess.run(["dpkg", "-x", packages[-1], str(tmp_path / "package")], check=True)
    return next((tmp_path / "package").rglob("pyinotify.py"))


def venv(python, folder):
    """A bare virtual environment of that Python: it sees none of the host's extra packages."""
    subprocess.run([python, "-m", "venv", "--without-pip", str(folder)], check=True)
    site = next(folder.glob("lib/python3*/site-packages"))
    return str(folder / "bin" / "python"), site


def test_a_python_without_pyinotify_polls(tmp_path):
    python, _ = venv("/usr/bin/python3", tmp_path / "bare")
    found, reason = pyinotify_file(python)
    assert found is None and "No module named 'pyinotify'" in reason
    assert fastest_log_backend(python) == "polling"


def test_a_python_with_pyinotify_gets_it(tmp_path):
    python, site = venv("/usr/bin/python3", tmp_path / "with")
    shutil.copy(pyinotify_source(tmp_path), site)
    found, reason = pyinotify_file(python)
    assert found.startswith(str(site)) and reason is None
    assert fastest_log_backend(python) == "pyinotify"
    assert polling_advice(python, sys.version_info[:2]) is None


def test_pyinotify_cannot_work_on_python_3_12_so_it_polls_without_advice(tmp_path):
    found = newer_pythons()
    newer = found.get("3.13") or found.get("3.12")
    if not newer or subprocess.run([newer, "-c", "import venv"]).returncode != 0:
        pytest.skip("no Python 3.12 or later here")
    python, site = venv(newer, tmp_path / "newer")
    shutil.copy(pyinotify_source(tmp_path), site)
    found, reason = pyinotify_file(python)
    assert found is None and "asyncore" in reason
    version = subprocess.run([python, "-c", "import sys; print(*sys.version_info[:2])"],
                             stdout=subprocess.PIPE, text=True, check=True).stdout.split()
    assert polling_advice(python, tuple(map(int, version))) is None


def test_advice_names_the_package_where_pyinotify_could_work(tmp_path):
    python, _ = venv("/usr/bin/python3", tmp_path / "bare")
    (tmp_path / "root/etc").mkdir(parents=True)
    (tmp_path / "root/etc/slackware-version").write_text("Slackware 15.0\n")
    said = polling_advice(python, (3, 11), root=tmp_path / "root")
    assert "SlackBuilds.org" in said and "run ./install again" in said and "\n" not in said


def test_a_missing_interpreter_polls():
    found, reason = pyinotify_file("/nonexistent/python3")
    assert found is None and "/nonexistent/python3" in reason
