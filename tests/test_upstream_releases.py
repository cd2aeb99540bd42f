"""The installer on real upstream release tarballs, where the machine has them.

Upstream tarballs cannot be downloaded by the test suite; set QF2B_UPSTREAM_TARBALLS to a folder holding
fail2ban-1.0.2.tar.gz, fail2ban-1.1.0.tar.gz and fail2ban-1.1.1.tar.gz (as GitHub serves the release
tags, e.g. `git archive --prefix=fail2ban-1.1.1/ 1.1.1 | gzip` of upstream's repository) to run these.
Every jail is enabled (its log folder made in the root), so fail2ban-client -t reads every jail and
action we render, with each firewall a site can choose. 1.1.x is also built and run with each Python
3.12+ found (PATH, ~/.pyenv), in a venv of it given setuptools from PyPI, as fail2ban's setup.py needs.
The per-filter counts on each release's own samples are printed (pytest -rP shows them).
"""

import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from installer.shared import releases
from installer.siteconf import render
from installer.siteconf.settings import defaults
from tests.support import filters as support
from tests.support.install import CACHE, run_install, sha256_of, staged_at
from tests.support.pythons import newer_pythons

FOLDER = os.environ.get("QF2B_UPSTREAM_TARBALLS")
TARBALLS = sorted(Path(FOLDER).glob("fail2ban-*.tar.gz")) if FOLDER else []
# the filters we extend with a .local: each must still read every failure fail2ban's own samples hold
EXTENDED = ("dovecot", "roundcube-auth")
# Lines of those samples our filters leave unread on purpose, because they can be read two ways
# (the filter headers say which): none today.
TWO_READINGS = ()

pytestmark = pytest.mark.skipif(not TARBALLS, reason="QF2B_UPSTREAM_TARBALLS names no folder with upstream tarballs")


def release_of(tarball):
    return tarball.name[len("fail2ban-"):-len(".tar.gz")]


def with_every_log_folder(root):
    """The root with the folder of every jail's log, so that every jail is rendered enabled."""
    for jail in defaults().jails:
        if jail.logpath:
            (root / jail.logpath.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
    return root


@pytest.fixture(scope="module", params=TARBALLS, ids=lambda path: path.name)
def installed(request, tmp_path_factory):
    """(tarball, root, result) of one ./install --root of the release, shared by the tests of that release."""
    tarball = request.param
    root = with_every_log_folder(tmp_path_factory.mktemp("release") / "root")
    return tarball, root, run_install("--root", root, "--tarball", tarball, "--sha256", sha256_of(tarball), "--yes")


def test_upstream_release_installs_and_runs(installed):
    tarball, root, result = installed
    assert result.returncode == 0, result.stderr
    version = release_of(tarball)
    assert f"Checking that fail2ban-client -V runs as {version} ... ok" in result.stdout
    assert "Testing the configuration with fail2ban-client -t ... ok" in result.stdout
    assert "is off" not in result.stdout
    again = run_install("--root", root, "--tarball", tarball, "--sha256", sha256_of(tarball), "--yes")
    assert "Nothing to do" in again.stdout


def release_samples(tarball, folder):
    """{filter: path} of the release's own fail2ban/tests/files/logs samples of the filters we extend."""
    found = {}
    with tarfile.open(tarball) as archive:
        for member in archive.getmembers():
            name = Path(member.name).name
            if name in EXTENDED and member.name.endswith(f"fail2ban/tests/files/logs/{name}"):
                found[name] = Path(folder) / name
                found[name].write_bytes(archive.extractfile(member).read())
    return found


def samples_read_right(staged, confdir, name, path, workdir):
    """(samples read as the file's failJSON says, samples) of filter name on a sample file, addresses only."""
    right = total = 0
    for section in support.read_samples(path):
        spec = support.filter_spec(name, section.options)
        found = support.failures(staged, confdir, spec, [sample.line for sample in section.samples], workdir)
        for sample in section.samples:
            total += 1
            right += not support.mismatches(support.Section(section.options, [sample]), found, times=False)
    return right, total


def test_extended_filters_read_as_many_release_samples_as_the_release_s_own_filters(installed, tmp_path):
    """Per filter we extend: of the release's own samples, ours reads at least as many right (the
    failJSON's address, or nothing) as the release's own filter does, run by the same fail2ban."""
    tarball, root, result = installed
    assert result.returncode == 0, result.stderr
    staged = staged_at(root)
    theirs = tmp_path / "theirs"
    shutil.copytree(staged.confdir, theirs)
    for name in EXTENDED:
        (theirs / "filter.d" / f"{name}.local").unlink()
    rows, short = [], []
    for name, path in release_samples(tarball, tmp_path).items():
        ours = samples_read_right(staged, staged.confdir, name, path, tmp_path)
        upstream = samples_read_right(staged, theirs, name, path, tmp_path)
        rows.append(f"{tarball.name} {name}: ours {ours[0]} of {ours[1]},"
                    f" {name}.conf alone {upstream[0]} of {upstream[1]}")
        if ours[0] < upstream[0]:
            short.append(rows[-1])
    print("\n".join(rows))
    assert len(rows) == len(EXTENDED), rows
    assert not short, "\n".join(short)


def test_extended_filters_read_the_release_s_own_samples(installed, tmp_path):
    """Every failure in the release's fail2ban/tests/files/logs sample of a filter we extend is read by
    ours with the same address, and no line it marks as no failure is. (Times are checked on our own
    samples: these are written in the zone of fail2ban's test suite.)"""
    tarball, root, result = installed
    assert result.returncode == 0, result.stderr
    staged = staged_at(root)
    problems = []
    for name, path in release_samples(tarball, tmp_path).items():
        for section in support.read_samples(path):
            section.samples = [sample for sample in section.samples
                               if not any(text in sample.line for text in TWO_READINGS)]
            spec = support.filter_spec(name, section.options)
            found = support.failures(staged, staged.confdir, spec, [sample.line for sample in section.samples],
                                     tmp_path)
            problems += [f"{spec}: {problem}" for problem in support.mismatches(section, found, times=False)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("banaction", sorted(render.ACTIONS))
def test_jail_local_with_each_firewall_passes_the_release_s_own_test(installed, tmp_path, banaction):
    """jail.local as rendered for iptables, nftables and ipset: fail2ban-client -t of the release reads
    every jail, filter and action of it (1.1.1 rewrote iptables.conf and moved the default banactions)."""
    tarball, root, result = installed
    assert result.returncode == 0, result.stderr
    staged = staged_at(root)
    confdir = tmp_path / "fail2ban"
    subprocess.run(["cp", "-a", str(staged.confdir), str(confdir)], check=True)
    settings = defaults()
    (confdir / "jail.local").write_text(render.jail_local(settings, banaction, {}))
    (confdir / "jail.d" / "zz-staged-logs.local").write_text(
        "".join(f"[{jail.name}]\nlogpath = {root / jail.logpath.lstrip('/')}\n\n"
                for jail in settings.jails if jail.logpath))
    checked = staged.run("fail2ban-client", "-c", confdir, "-t")
    assert checked.returncode == 0, checked.stdout + checked.stderr


NEWER_PYTHONS = newer_pythons()
NEWEST_TARBALLS = [path for path in TARBALLS if releases.parse_version(release_of(path))[:2] >= (1, 1)]


def venv_with_setuptools(version, python):
    """A venv of that Python with setuptools (fail2ban's setup.py needs it; 3.12 has no distutils), kept in
    tests/.cache: the Python's own installation stays untouched."""
    venv = CACHE / f"venv-python{version}-setuptools"
    if not (venv / "bin/python").exists():
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin/python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                        "setuptools"], check=True)
    return venv / "bin/python"


@pytest.mark.skipif(not NEWER_PYTHONS, reason="no Python 3.12 or newer on this machine")
@pytest.mark.skipif(not NEWEST_TARBALLS, reason="no 1.1.x release among QF2B_UPSTREAM_TARBALLS")
@pytest.mark.parametrize("version", sorted(NEWER_PYTHONS))
def test_release_1_1_builds_and_runs_on_newer_pythons_in_their_own_prefix(tmp_path, version):
    """A --python that reads nothing from /usr gets fail2ban in its own site-packages."""
    tarball = NEWEST_TARBALLS[-1]
    python = venv_with_setuptools(version, NEWER_PYTHONS[version])
    root = with_every_log_folder(tmp_path / "root")
    result = run_install("--root", root, "--tarball", tarball, "--sha256", sha256_of(tarball),
                         "--python", python, "--yes")
    assert result.returncode == 0, result.stderr
    assert f"Building fail2ban {release_of(tarball)} with Python {version}" in result.stdout
    assert "Testing the configuration with fail2ban-client -t ... ok" in result.stdout
    site_dir = staged_at(root).env["PYTHONPATH"]
    assert site_dir.startswith(f"{root}{python.parent.parent}/lib/python{version}/site-packages"), site_dir
