"""The installer on real upstream release tarballs, where the machine has them.

Upstream tarballs cannot be downloaded by the test suite; set QF2B_UPSTREAM_TARBALLS to a folder holding
fail2ban-1.0.2.tar.gz and fail2ban-1.1.0.tar.gz (as GitHub serves the release tags) to run these.
"""

import os
from pathlib import Path

import pytest

from tests.conftest import run_install, sha256_of

FOLDER = os.environ.get("QF2B_UPSTREAM_TARBALLS")
TARBALLS = sorted(Path(FOLDER).glob("fail2ban-*.tar.gz")) if FOLDER else []


@pytest.mark.skipif(not TARBALLS, reason="QF2B_UPSTREAM_TARBALLS names no folder with upstream tarballs")
@pytest.mark.parametrize("tarball", TARBALLS, ids=lambda path: path.name)
def test_upstream_release_installs_and_runs(tmp_path, tarball):
    root = tmp_path / "root"
    result = run_install("--root", root, "--tarball", tarball, "--sha256", sha256_of(tarball), "--yes")
    assert result.returncode == 0, result.stderr
    version = tarball.name[len("fail2ban-"):-len(".tar.gz")]
    assert f"Checking that fail2ban-client -V runs as {version} ... ok" in result.stdout
    again = run_install("--root", root, "--tarball", tarball, "--sha256", sha256_of(tarball), "--yes")
    assert "Nothing to do" in again.stdout
