"""Hostile conditions on a throwaway installed host: a server that no longer runs, and a folder's owner
racing ./install for the names it creates there."""

import shlex
import sys
import time

from tests.host.test_rc import PIDFILE, SOCKET, rc, server_pid, server_processes
from tests.support.install import REPO, install_command, sha256_of
from tests.support.throwaway import Throwaway

STOP_TIMEOUT = 2


def test_stop_kills_a_server_that_does_not_stop(installed_host):
    assert rc(installed_host, "start").returncode == 0
    pid = server_pid(installed_host)
    installed_host.run(f"kill -STOP {pid}", check=True)

    started = time.monotonic()
    result = rc(installed_host, "stop", env=f"FAIL2BAN_STOP_TIMEOUT={STOP_TIMEOUT}")
    took = time.monotonic() - started

    assert result.returncode == 0, result.stderr
    assert took < STOP_TIMEOUT + 15
    assert result.stderr.strip().splitlines() == [
        f"rc.fail2ban: fail2ban-server {pid} did not stop within {STOP_TIMEOUT} seconds; killed it."]
    assert server_processes(installed_host) == []
    assert not installed_host.host.file(PIDFILE).exists
    assert not installed_host.host.file(SOCKET).exists

    assert rc(installed_host, "start").returncode == 0
    assert "pong" in installed_host.run("fail2ban-client ping").stdout
    assert rc(installed_host, "stop").returncode == 0


ROUNDCUBE_LOGS = "/var/www/htdocs/roundcube/logs"
VICTIM = "/etc/passwd"

# Run as the folder's owner: told by inotify the moment ./install creates a temporary name in the folder, put
# a link to the victim in its place; until told to stop, or for a few minutes at most. Prints how many it swapped.
SWAPPER = r"""
import ctypes, os, select, struct, sys, time
folder, victim, stop = sys.argv[1:]
IN_CREATE, HEADER = 0x100, struct.Struct("iIII")
libc = ctypes.CDLL(None, use_errno=True)
events = libc.inotify_init1(os.O_NONBLOCK)
libc.inotify_add_watch(events, folder.encode(), IN_CREATE)
swapped, deadline = 0, time.monotonic() + 240
print("watching", flush=True)
while not os.path.exists(stop) and time.monotonic() < deadline:
    if not select.select([events], [], [], 0.2)[0]:
        continue
    data, offset = os.read(events, 65536), 0
    while offset < len(data):
        _, _, _, length = HEADER.unpack_from(data, offset)
        name = data[offset + HEADER.size:offset + HEADER.size + length].rstrip(b"\0").decode()
        offset += HEADER.size + length
        path = os.path.join(folder, name)
        if name.startswith(".qf2b-") and not os.path.islink(path):
            try:
                os.unlink(path)
                os.symlink(victim, path)
                swapped += 1
            except OSError:
                pass
print(swapped, flush=True)
"""


def test_the_logs_folders_owner_cannot_redirect_the_mode_of_a_new_log(fixture_tarball):
    """The owner's swapper runs real-time on the installer's processor, so it runs the moment inotify wakes it:
    it wins the race every time, as a patient attacker eventually would."""
    with Throwaway() as host:
        host.run(f"mkdir -p {ROUNDCUBE_LOGS} && chown nobody: {ROUNDCUBE_LOGS}", check=True)
        victim_before = host.run(f"stat -c '%a %u %g' {VICTIM}", check=True).stdout
        swapper = shlex.join([sys.executable, "-c", SWAPPER, ROUNDCUBE_LOGS, VICTIM, "/run/stop-swapping"])
        host.run(f"taskset -c 0 chrt -f 10 setpriv --reuid=nobody --regid=nogroup --clear-groups {swapper} "
                 "> /run/swapped 2>&1 & for i in $(seq 100); do [ -s /run/swapped ] && break; sleep 0.1; done",
                 check=True)
        command = shlex.join(install_command("--tarball", fixture_tarball, "--sha256", sha256_of(fixture_tarball),
                                             "--yes", "--quiet"))
        try:
            result = host.run(f"cd {REPO} && taskset -c 0 {command}", timeout=300)
        finally:
            host.run("touch /run/stop-swapping; for i in $(seq 100); do [ $(wc -l < /run/swapped) -ge 2 ] && break; "
                     "sleep 0.1; done")
        assert result.returncode == 0, result.stderr
        assert host.run("cat /run/swapped").stdout.split() == ["watching", "1"], "the swapper did not race"
        assert host.run(f"stat -c '%a %u %g' {VICTIM}", check=True).stdout == victim_before
