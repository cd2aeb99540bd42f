"""./install killed with SIGKILL midway on a throwaway host: the next ./install completes, and --uninstall
after it puts every path back as it was before the first run."""

import os

import pytest

from tests.support.install import REPO, install_command, install_on, sha256_of
from tests.support.throwaway import changed_paths, merged_state
from tests.support.treestate import paths_state

STATE_DIR = "/var/lib/qmail-fail2ban"
KILL_WITHIN_SECONDS = 240

# Where to kill, from what anyone could see on the host: while setup.py builds the release (the
# bracket keeps pgrep from matching this script itself), once the first files and once 250 files have
# landed in /etc and /usr (a full install places some 500), and once fail2ban's log is created, the
# last file placed before fail2ban tests the configuration and the boot hooks and manifest go in.
KILL_POINTS = {
    "while building": "pgrep -f 'setup[.]py' >/dev/null",
    "after the first files": "[ $(placed) -ge 1 ]",
    "halfway through placing": "[ $(placed) -ge 250 ]",
    "testing the configuration": "[ -e /var/log/fail2ban.log ]",
}


def changes(host):
    return merged_state(host, changed_paths(host))


def kill_install_when(host, tarball, condition):
    """Start ./install in its own process group, wait (bounded) until condition holds, then SIGKILL the
    whole group as a power loss would stop it. Return the run's exit status."""
    command = " ".join(map(str, install_command("--tarball", tarball, "--sha256", sha256_of(tarball),
                                                "--yes", "--quiet")))
    script = f"""
        placed() {{ find {host.scratch}/etc.up {host.scratch}/usr.up -type f | wc -l; }}
        cd {REPO}
        setsid {command} >/dev/null 2>&1 &
        run=$!
        while [ $SECONDS -lt {KILL_WITHIN_SECONDS} ] && kill -0 $run 2>/dev/null && ! {condition}; do
            sleep 0.002
        done
        kill -KILL -- -$run 2>/dev/null
        wait $run
        echo "$?"
    """
    result = host.run(script, timeout=KILL_WITHIN_SECONDS + 60, check=True)
    return int(result.stdout)


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_install_killed_midway_then_rerun_then_uninstall_leaves_the_host_as_before(throwaway, fixture_tarball,
                                                                                  point):
    status = kill_install_when(throwaway, fixture_tarball, KILL_POINTS[point])
    assert status == 128 + 9, f"./install was not killed midway (exit {status})"

    install_on(throwaway, fixture_tarball, "--yes", "--quiet")
    installed = changes(throwaway)
    leftovers = [path for path in installed if os.path.basename(path).startswith(".qf2b-")]
    assert leftovers == []
    assert sorted(path for path in installed if path.startswith(STATE_DIR + "/")) == [f"{STATE_DIR}/manifest"]
    assert throwaway.run("/usr/bin/fail2ban-client -t").returncode == 0

    uninstall = throwaway.run(f"cd {REPO} && {' '.join(install_command('--uninstall', '--quiet'))}")
    assert uninstall.returncode == 0, uninstall.stderr
    after = changes(throwaway)
    assert after == paths_state(after)        # every path the throwaway touched is as on the untouched host


def test_uninstall_killed_midway_then_run_again_leaves_the_host_as_before(throwaway, fixture_tarball):
    install_on(throwaway, fixture_tarball, "--yes", "--quiet")
    uninstall = " ".join(install_command("--uninstall", "--quiet"))
    script = f"""
        cd {REPO}
        setsid {uninstall} >/dev/null 2>&1 &
        run=$!
        while [ $SECONDS -lt {KILL_WITHIN_SECONDS} ] && kill -0 $run 2>/dev/null && [ -e /etc/fail2ban/jail.conf ]; do
            sleep 0.001
        done
        kill -KILL -- -$run 2>/dev/null
        wait $run
        echo "$?"
    """
    status = int(throwaway.run(script, timeout=KILL_WITHIN_SECONDS + 60, check=True).stdout)
    assert status == 128 + 9, f"--uninstall was not killed midway (exit {status})"
    again = throwaway.run(f"cd {REPO} && {uninstall}")
    assert again.returncode == 0, again.stderr
    after = changes(throwaway)
    assert after == paths_state(after)
