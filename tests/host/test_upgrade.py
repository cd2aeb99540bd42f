"""./install onto a host where another release runs: the switch, the check that it serves, and the
switch back when the new release cannot serve, with every ban kept (manual, CIDR and log-fed).

Only the 1.0.2 fixture is at hand, so the other releases are made from it: the same code labelled
1.0.3 (an upgrade that works), and 1.0.4 whose server exits at start (builds, passes -t and -V).
The tests share one installed mail host and run in order; the killed upgrade and
the release that rewrites the database (schema 5, made from the fixture too) have hosts of their own.
"""

import json
import time

import pytest

from tests.fixture.variants import with_version
from tests.support.install import REPO, install_command, install_on, sha256_of
from tests.support.mailhost import DATABASE, TOOL, dovecot_failures, installed_mail_host

MANUAL, CIDR, LOG_FED = "192.0.2.10", "198.18.0.0/24", "203.0.113.7"
BAN_WAIT = 20
KILL_WITHIN_SECONDS = 240
BROKEN_SERVER = b"\tdef start(self, sock, pidfile, force=False, observer=True, conf={}):\n"


def server_that_exits(name, data):
    if name.endswith("/fail2ban/server/server.py"):
        return data.replace(BROKEN_SERVER, BROKEN_SERVER + b"\t\tsys.exit(1)\n")
    return data


DATABASE_VERSION = b"\t__version__ = 4\n"
DATABASE_UPDATED = b'\t\t\tcur.execute("SELECT version FROM fail2banDb LIMIT 1")\n\t\t\treturn cur.fetchone()[0]'


def database_rewriter(name, data):
    """A database schema 5, which the release writes over schema 4 at start; 1.0.2 cannot read it (it
    starts a new, empty database in its place)."""
    if name.endswith("/fail2ban/server/database.py"):
        assert data.count(DATABASE_VERSION) == 1 and data.count(DATABASE_UPDATED) == 1
        data = data.replace(DATABASE_VERSION, b"\t__version__ = 5\n")
        data = data.replace(DATABASE_UPDATED, b'\t\t\tcur.execute("UPDATE fail2banDb SET version = 5")\n'
                            + DATABASE_UPDATED)
    return data


@pytest.fixture(scope="module")
def tarballs(fixture_tarball, tmp_path_factory):
    folder = tmp_path_factory.mktemp("releases")
    return {"1.0.3": with_version(fixture_tarball, folder, "1.0.3"),
            "1.0.4": with_version(fixture_tarball, folder, "1.0.4", server_that_exits),
            "1.0.5": with_version(fixture_tarball, folder, "1.0.5", database_rewriter)}


@pytest.fixture(scope="module")
def host(fixture_tarball):
    with installed_mail_host(fixture_tarball) as host:
        host.run(f"{TOOL} ban {MANUAL} {CIDR}", check=True, timeout=90)
        dovecot_failures(host, LOG_FED, 6)
        assert wait_until(lambda: LOG_FED in bans(host).get("dovecot", [])), host.run("tail /var/log/fail2ban.log")
        yield host


def wait_until(probe, seconds=BAN_WAIT):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if probe():
            return True
        time.sleep(0.25)
    return False


def bans(host):
    return json.loads(host.run(f"{TOOL} --json bans", check=True, timeout=60).stdout)


def serving(host):
    """(version, bans per jail, the doctor's firewall findings that fail)."""
    version = host.run("fail2ban-client -V", check=True).stdout.strip().split()[-1]
    doctor = json.loads(host.run(f"{TOOL} --json doctor", timeout=180).stdout)
    short = [check["message"] for check in doctor["checks"]
             if check["check"].startswith("firewall holds") and check["level"] == "FAIL"]
    return version, bans(host), short


def every_ban_kept(found):
    return (MANUAL in found.get("custom", []) and CIDR in found.get("custom", [])
            and LOG_FED in found.get("dovecot", []))


def installed_files(host):
    """sha256 of every file the manifest records, as on disk."""
    manifest = json.loads(host.run("cat /var/lib/qmail-fail2ban/manifest", check=True).stdout)
    listing = host.run("cd / && sha256sum " + " ".join(sorted(manifest["files"])), check=True, timeout=120)
    return listing.stdout


def install(host, tarball):
    command = " ".join(map(str, install_command("--tarball", tarball, "--sha256", sha256_of(tarball), "--yes")))
    return host.run(f"cd {REPO} && {command}", timeout=600)


def test_an_upgrade_restarts_on_the_new_release_with_every_ban(host, tarballs):
    result = install_on(host, tarballs["1.0.3"], "--yes", timeout=600)
    assert "[9/10] Restarting fail2ban on 1.0.3 ... ok" in result.stdout
    assert "[10/10] Checking that fail2ban 1.0.3 serves" in result.stdout
    version, found, short = serving(host)
    assert version == "1.0.3" and every_ban_kept(found) and short == [], (found, short)


def test_a_release_whose_server_cannot_start_is_switched_back(host, tarballs):
    before = installed_files(host)
    result = install(host, tarballs["1.0.4"])
    assert result.returncode != 0
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1, result.stderr
    assert "fail2ban 1.0.4 failed: its server did not start" in errors[0]
    assert "fail2ban 1.0.3 serves again with its files and bans" in errors[0]
    version, found, short = serving(host)
    assert version == "1.0.3" and every_ban_kept(found) and short == [], (found, short)
    assert installed_files(host) == before


def test_rollback_puts_the_replaced_release_back_serving_every_ban(host):
    manifest = json.loads(host.run("cat /var/lib/qmail-fail2ban/manifest", check=True).stdout)
    assert manifest["release"]["version"] == "1.0.3" and manifest["previous"]["version"] == "1.0.2"
    result = host.run(f"cd {REPO} && {' '.join(install_command('--rollback'))}", timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[5/6] Restarting fail2ban on 1.0.2 ... ok" in result.stdout
    version, found, short = serving(host)
    assert version == "1.0.2" and every_ban_kept(found) and short == [], (found, short)
    manifest = json.loads(host.run("cat /var/lib/qmail-fail2ban/manifest", check=True).stdout)
    assert manifest["release"]["version"] == "1.0.2" and manifest["previous"]["version"] == "1.0.3"
    assert host.run("test -d /usr/local/src/fail2ban-1.0.2 && test ! -e /usr/local/src/fail2ban-1.0.3").returncode == 0


def test_uninstall_removes_the_kept_release_too(host):
    result = host.run(f"cd {REPO} && {' '.join(install_command('--uninstall'))}", timeout=300)
    assert result.returncode == 0, result.stderr
    assert host.run("test -e /var/lib/qmail-fail2ban/previous").returncode != 0


def test_an_upgrade_killed_while_switching_is_finished_by_the_next_run(fixture_tarball, tarballs):
    with installed_mail_host(fixture_tarball) as killed_host:
        killed_host.run(f"{TOOL} ban {MANUAL} {CIDR}", check=True, timeout=90)
        newer = tarballs["1.0.3"]
        command = " ".join(map(str, install_command("--tarball", newer, "--sha256", sha256_of(newer), "--yes")))
        # Killed as a power loss would stop it, once the switch is under way: the server is being restarted.
        status = killed_host.run(f"""
            cd {REPO}
            setsid {command} >/dev/null 2>&1 &
            run=$!
            while [ $SECONDS -lt {KILL_WITHIN_SECONDS} ] && kill -0 $run 2>/dev/null \\
                  && [ ! -e /var/lib/qmail-fail2ban/switching ]; do
                sleep 0.002
            done
            kill -KILL -- -$run 2>/dev/null
            wait $run
            echo "$?"
        """, timeout=KILL_WITHIN_SECONDS + 60, check=True)
        assert int(status.stdout) == 128 + 9, "./install was not killed midway"
        install_on(killed_host, newer, "--yes", "--quiet", timeout=600)
        version, found, short = serving(killed_host)
        assert version == "1.0.3" and short == [], (found, short)
        assert MANUAL in found.get("custom", []) and CIDR in found.get("custom", []), found
        assert killed_host.run("test -e /var/lib/qmail-fail2ban/switching").returncode != 0


def test_a_release_that_rewrites_the_database_keeps_the_bans_both_ways(fixture_tarball, tarballs):
    with installed_mail_host(fixture_tarball) as rewritten_host:
        rewritten_host.run(f"{TOOL} ban {MANUAL} {CIDR}", check=True, timeout=90)
        install_on(rewritten_host, tarballs["1.0.5"], "--yes", "--quiet", timeout=600)
        schema = "SELECT version FROM fail2banDb"
        assert rewritten_host.run(f"/usr/bin/python3 -c \"import sqlite3; print(sqlite3.connect('{DATABASE}')"
                                  f".execute('{schema}').fetchone()[0])\"", check=True).stdout.strip() == "5"
        rollback = rewritten_host.run(f"cd {REPO} && {' '.join(install_command('--rollback', '--quiet'))}",
                                      timeout=600)
        assert rollback.returncode == 0, rollback.stdout + rollback.stderr
        version, found, short = serving(rewritten_host)
        assert version == "1.0.2" and short == [], (found, short)
        assert MANUAL in found.get("custom", []) and CIDR in found.get("custom", []), found
