"""A system Python whose minor version changed under an installed fail2ban (Slackware -current):
qmail-f2b doctor says so and what to do, and ./install builds the same release again for it."""

import json
import sys
from types import SimpleNamespace

from installer.pipeline.install import InstallRun, Options
from installer.shared import manifest
from installer.tool.doctor import check_python

RUNNING = "%d.%d" % sys.version_info[:2]


def installed_root(tmp_path, release):
    server = tmp_path / "usr/bin/fail2ban-server"
    server.parent.mkdir(parents=True)
    server.write_text(f"#!{sys.executable}\n")
    record = manifest.empty()
    record["release"] = release
    (tmp_path / "var/lib/qmail-fail2ban").mkdir(parents=True)
    (tmp_path / "var/lib/qmail-fail2ban/manifest").write_text(json.dumps(record))
    return tmp_path


def test_doctor_names_the_python_fail2ban_was_built_for(tmp_path):
    root = installed_root(tmp_path, {"version": "1.1.1", "python": sys.executable, "python_version": "3.1",
                                     "site_dir": "/usr/lib/python3/dist-packages"})
    finding = check_python(root)
    assert finding.level == "FAIL"
    assert "built for Python 3.1" in finding.message and f"is now Python {RUNNING}" in finding.message
    assert "run ./install again" in finding.message


def test_doctor_is_content_when_the_python_is_the_one_it_was_built_for(tmp_path):
    root = installed_root(tmp_path, {"version": "1.1.1", "python": sys.executable, "python_version": RUNNING,
                                     "site_dir": "/usr/lib/python3/dist-packages"})
    assert check_python(root).level == "OK"


def test_an_older_manifest_tells_the_version_by_its_site_folder():
    assert manifest.built_python_version({"site_dir": "/usr/lib64/python3.11/site-packages"}) == (3, 11)
    assert manifest.built_python_version({"site_dir": "/usr/lib/python3/dist-packages"}) is None
    assert manifest.built_python_version({"python_version": "3.12", "site_dir": "/x/python3.11/y"}) == (3, 12)


def build_on(version):
    """What steps 1 to 5 report for fail2ban 1.1.1 built on /usr/bin/python3 of that version."""
    python = SimpleNamespace(path="/usr/bin/python3", site_dir="/usr/lib/python3/dist-packages", version=version)
    return SimpleNamespace(source=SimpleNamespace(version="1.1.1"), digest="d" * 64, python=python)


def test_install_rebuilds_the_same_release_for_a_python_of_another_minor_version():
    run = InstallRun(Options(root="/nonexistent", quiet=True))
    recorded = {"version": "1.1.1", "sha256": "d" * 64, "python": "/usr/bin/python3",
                "site_dir": "/usr/lib/python3/dist-packages", "python_version": "3.12"}
    run.built = build_on((3, 12, 1))
    assert not run.new_build(recorded)
    run.built = build_on((3, 13, 0))
    assert run.new_build(recorded)
    del recorded["python_version"]      # a manifest from before it was recorded: nothing to compare
    assert not run.new_build(recorded)
