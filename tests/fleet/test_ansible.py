"""contrib/ansible converges the fleet lab from bare hosts, then changes nothing on a second run or
under --check; the converged hosts are checked with testinfra's ansible backend on the same inventory."""

import re
import sys
import time

import pytest

from tests.support import install
from tests.support.fleet import ATTACKERS, HOSTS, ROLES, fleet_lab
from tests.support.fleet_ansible import controller_for
from tests.support.fleetmail import FLEET_RC, in_set, tool, wait_for

pytestmark = pytest.mark.fleet

CREDENTIALS = "/etc/qmail-fail2ban/fleet"
# A host that has left the fleet, whose password a member still holds.
GONE = "mail-z"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, fixture_tarball):
    """The lab, the controller, and the outcome of each of the three runs (with their durations)."""
    workdir = tmp_path_factory.mktemp("fleet-ansible")
    extra_vars = {
        "qmail_fail2ban_checkout": str(install.REPO),
        "qmail_fail2ban_build_dir": str(workdir / "build"),
        "qmail_fail2ban_secrets_dir": str(workdir / "secrets"),
        # The tests' Python has configobj; this machine's /usr/bin/python3 may not.
        "qmail_fail2ban_python": sys.executable,
        "qmail_fail2ban_tarball": str(fixture_tarball),
        "qmail_fail2ban_tarball_sha256": install.sha256_of(fixture_tarball),
        "qmail_fail2ban_ignoreip": ["203.0.113.200"],
        "qmail_fail2ban_fleet_ignoreip": ["203.0.113.200"],
    }
    with fleet_lab() as lab, pytest.MonkeyPatch.context() as patch:
        controller = controller_for(lab, workdir)
        # testinfra's ansible backend runs ansible-inventory from this process: ansible's state in workdir too.
        for name in ("ANSIBLE_CONFIG", "ANSIBLE_HOME", "ANSIBLE_LOCAL_TEMP"):
            patch.setenv(name, controller.env[name])
        try:
            runs = {}
            # Then the admin changes a setting: --check on one member, and the real run on another.
            new_dest = ("-e", "qmail_fail2ban_alerts_dest=postmaster@example.org")
            for label, args in (("first", ()), ("second", ()), ("check", ("--check",)),
                                ("pending", ("--check", "--limit", "mail-b", *new_dest)),
                                ("changed", ("--limit", "mail-c", *new_dest))):
                if label == "changed":
                    lab.hosts["mail-c"].run(f"echo gone > {CREDENTIALS}/{GONE}.password", check=True)
                started = time.monotonic()
                result, recap = controller.playbook(*args, extra_vars=extra_vars)
                runs[label] = (result, recap, time.monotonic() - started)
                (workdir / f"{label}-run.log").write_text(result.stdout)
                if result.returncode != 0:
                    break
            yield lab, controller, runs
        finally:
            controller.close()


def _task_results(output, title):
    """The result lines ('changed: [mail-b]', ...) under the role's task of that title."""
    block = output.split(f"TASK [qmail_fail2ban : {title}]", 1)[1].split("\n\n", 1)[0]
    return [line for line in block.splitlines() if re.match(r"(ok|changed|skipping|fatal|failed): \[", line)]


def _run(runs, label, hosts=HOSTS):
    assert label in runs, f"an earlier run failed: {list(runs)}"
    result, recap, seconds = runs[label]
    assert result.returncode == 0, result.stdout[-6000:]
    assert set(recap) == set(hosts), result.stdout[-3000:]
    print(f"{label} run: {seconds:.1f} s")
    return result, recap


def test_first_run_converges_every_host(fleet):
    _, _, runs = fleet
    result, recap = _run(runs, "first")
    assert all(counts["changed"] > 0 and counts["failed"] == 0 for counts in recap.values()), recap
    lapi_play, member_play = result.stdout.index("PLAY [qmail-fail2ban on the fleet's Local API host]"), \
        result.stdout.index("PLAY [qmail-fail2ban on the fleet's members]")
    assert lapi_play < member_play


def test_second_run_changes_nothing(fleet):
    _, _, runs = fleet
    result, recap = _run(runs, "second")
    assert {host: counts["changed"] for host, counts in recap.items()} == dict.fromkeys(HOSTS, 0), result.stdout


def test_check_mode_on_the_converged_fleet_changes_nothing(fleet):
    _, _, runs = fleet
    result, recap = _run(runs, "check")
    assert {host: counts["changed"] for host, counts in recap.items()} == dict.fromkeys(HOSTS, 0), result.stdout


def test_check_mode_tells_a_pending_change_and_makes_none(fleet):
    _, controller, runs = fleet
    result, recap = _run(runs, "pending", hosts=["mail-b"])
    assert recap["mail-b"]["changed"] > 0, result.stdout
    assert _task_results(result.stdout, "Render site.conf") == ["changed: [mail-b]"]
    site = controller.testinfra_host("mail-b").file("/etc/qmail-fail2ban/site.conf").content_string
    assert "dest = root@localhost" in site


def test_the_converged_fleet_shares_a_ban(fleet):
    lab, _, runs = fleet
    _run(runs, "first")
    attacker = ATTACKERS[-1]
    assert lab.probe(attacker, "mail-c") == "refused"
    tool(lab.hosts["mail-b"], "ban", attacker)
    for name in ("mail-a", "mail-c"):
        wait_for(lambda name=name: in_set(lab.hosts[name], "qf2b-fleet4", attacker), f"{name} dropping {attacker}")
    assert lab.probe(attacker, "mail-c") == "timeout"


def test_a_changed_setting_reaches_the_running_server(fleet):
    _, controller, runs = fleet
    result, recap = _run(runs, "changed", hosts=["mail-c"])
    assert _task_results(result.stdout, "Restart fail2ban on the files ./install replaced") == ["changed: [mail-c]"]
    host = controller.testinfra_host("mail-c")
    assert "dest = postmaster@example.org" in host.file("/etc/qmail-fail2ban/site.conf").content_string
    assert host.run("/etc/rc.d/rc.fail2ban status").rc == 0
    assert not host.file(f"{CREDENTIALS}/{GONE}.password").exists, "the inventory is the fleet"


@pytest.mark.parametrize("name", list(HOSTS))
def test_converged_host(fleet, name):
    lab, controller, runs = fleet
    _run(runs, "first")
    host = controller.testinfra_host(name)
    assert host.check_output("hostname") == name, "testinfra reached the host the inventory names"

    source = host.file("/usr/local/src/qmail-fail2ban")
    assert source.is_directory and host.file("/usr/local/src/qmail-fail2ban/install").exists
    assert not host.file("/usr/local/src/qmail-fail2ban/tests").exists
    assert not host.file("/usr/local/src/qmail-fail2ban/.venv").exists

    site = host.file("/etc/qmail-fail2ban/site.conf")
    assert (site.user, site.group, site.mode) == ("root", "root", 0o644)
    assert "ignoreip = 203.0.113.200" in site.content_string
    assert f"role = {ROLES[name]}" in site.content_string
    assert f"name = {name}" in site.content_string
    assert "lapi_url = http://192.0.2.1:8080" in site.content_string

    folder = host.file(CREDENTIALS)
    assert (folder.is_directory, folder.user, folder.group, folder.mode) == (True, "root", "root", 0o700)
    owners = HOSTS if ROLES[name] == "lapi" else [name]
    expected = sorted(f"{owner}.{kind}" for owner in owners for kind in ("password", "bouncer-key"))
    assert sorted(folder.listdir()) == expected
    for entry in expected:
        credential = host.file(f"{CREDENTIALS}/{entry}")
        assert (credential.user, credential.group, credential.mode) == ("root", "root", 0o600)
        assert len(credential.content_string.strip()) == 40 and credential.content_string.count("\n") == 1

    assert host.run("/etc/rc.d/rc.fail2ban status").rc == 0
    assert host.process.filter(comm="fail2ban-server")
    assert host.run(f"{FLEET_RC} status").rc == 0


def test_every_host_has_the_same_credentials_the_lapi_host_holds(fleet):
    lab, controller, runs = fleet
    _run(runs, "first")
    lapi = controller.testinfra_host("mail-a")
    for name in HOSTS:
        member = controller.testinfra_host(name)
        for kind in ("password", "bouncer-key"):
            path = f"{CREDENTIALS}/{name}.{kind}"
            assert member.file(path).content_string == lapi.file(path).content_string
