"""The installer on real upstream release tarballs, where the machine has them.

Upstream tarballs cannot be downloaded by the test suite; set QF2B_UPSTREAM_TARBALLS to a folder holding
fail2ban-1.0.2.tar.gz and fail2ban-1.1.0.tar.gz (as GitHub serves the release tags) to run these.
"""

import os
import tarfile
from pathlib import Path

import pytest

from tests.support import filters as support
from tests.support.install import run_install, sha256_of, staged_at

FOLDER = os.environ.get("QF2B_UPSTREAM_TARBALLS")
TARBALLS = sorted(Path(FOLDER).glob("fail2ban-*.tar.gz")) if FOLDER else []
# the filters we extend with a .local: each must still read every failure fail2ban's own samples hold
EXTENDED = ("dovecot", "roundcube-auth")
# Lines of those samples our filters leave unread on purpose: " from ADDRESS." twice, so the line
# can be read two ways (filter.d/roundcube-auth.local says why).
TWO_READINGS = "Login failed for admin from 127.0.0.1. from 1.2.3.4."

pytestmark = pytest.mark.skipif(not TARBALLS, reason="QF2B_UPSTREAM_TARBALLS names no folder with upstream tarballs")


@pytest.fixture(scope="module", params=TARBALLS, ids=lambda path: path.name)
def installed(request, tmp_path_factory):
    """(tarball, root, result) of one ./install --root of the release, shared by the tests of that release."""
    tarball = request.param
    root = tmp_path_factory.mktemp("release") / "root"
    return tarball, root, run_install("--root", root, "--tarball", tarball, "--sha256", sha256_of(tarball), "--yes")


def test_upstream_release_installs_and_runs(installed):
    tarball, root, result = installed
    assert result.returncode == 0, result.stderr
    version = tarball.name[len("fail2ban-"):-len(".tar.gz")]
    assert f"Checking that fail2ban-client -V runs as {version} ... ok" in result.stdout
    again = run_install("--root", root, "--tarball", tarball, "--sha256", sha256_of(tarball), "--yes")
    assert "Nothing to do" in again.stdout


def test_extended_filters_read_the_release_s_own_samples(installed, tmp_path):
    """Every failure in the release's fail2ban/tests/files/logs sample of a filter we extend is read by
    ours with the same address, and no line it marks as no failure is. (Times are checked on our own
    samples: these are written in the zone of fail2ban's test suite.)"""
    tarball, root, result = installed
    assert result.returncode == 0, result.stderr
    staged = staged_at(root)
    with tarfile.open(tarball) as archive:
        for member in archive.getmembers():
            name = Path(member.name).name
            if name in EXTENDED and member.name.endswith(f"fail2ban/tests/files/logs/{name}"):
                (tmp_path / name).write_bytes(archive.extractfile(member).read())
    problems = []
    for name in EXTENDED:
        for section in support.read_samples(tmp_path / name):
            section.samples = [sample for sample in section.samples if TWO_READINGS not in sample.line]
            spec = support.filter_spec(name, section.options)
            found = support.failures(staged, staged.confdir, spec, [sample.line for sample in section.samples],
                                     tmp_path)
            problems += [f"{spec}: {problem}" for problem in support.mismatches(section, found, times=False)]
    assert not problems, "\n".join(problems)
