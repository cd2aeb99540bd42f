"""A real upgrade between upstream releases and back, where the machine has their tarballs.

Opt-in like tests/test_upstream_releases.py: QF2B_UPSTREAM_TARBALLS names a folder of upstream tarballs
(fail2ban-1.0.2.tar.gz and fail2ban-1.1.1.tar.gz, say); the oldest is installed and run with manual,
CIDR and log-fed bans, the newest installed over it, then --rollback. 1.0.x needs a Python 3.11 or older.
"""

import os
from pathlib import Path

import pytest

from installer.shared import releases
from tests.host.test_upgrade import CIDR, LOG_FED, MANUAL, bans, every_ban_kept, serving, wait_until
from tests.support.install import REPO, install_command, install_on
from tests.support.mailhost import TOOL, dovecot_failures, installed_mail_host

FOLDER = os.environ.get("QF2B_UPSTREAM_TARBALLS")


def release_of(tarball):
    return tarball.name[len("fail2ban-"):-len(".tar.gz")]


TARBALLS = sorted(Path(FOLDER).glob("fail2ban-*.tar.gz"),
                  key=lambda path: releases.parse_version(release_of(path)) or (0,)) if FOLDER else []

pytestmark = pytest.mark.skipif(len(TARBALLS) < 2, reason="QF2B_UPSTREAM_TARBALLS names no folder with two"
                                                          " upstream tarballs")


def test_the_oldest_release_upgrades_to_the_newest_and_rolls_back_with_every_ban():
    oldest, newest = TARBALLS[0], TARBALLS[-1]
    with installed_mail_host(oldest) as host:
        host.run(f"{TOOL} ban {MANUAL} {CIDR}", check=True, timeout=90)
        dovecot_failures(host, LOG_FED, 6)
        assert wait_until(lambda: LOG_FED in bans(host).get("dovecot", []))
        install_on(host, newest, "--yes", "--quiet", timeout=900)
        version, found, short = serving(host)
        assert version == release_of(newest) and every_ban_kept(found) and short == [], (found, short)
        rollback = host.run(f"cd {REPO} && {' '.join(install_command('--rollback', '--quiet'))}", timeout=600)
        assert rollback.returncode == 0, rollback.stdout + rollback.stderr
        version, found, short = serving(host)
        assert version == release_of(oldest) and every_ban_kept(found) and short == [], (found, short)
