"""logrotate.d/fail2ban run by the real logrotate against a real fail2ban-server that is logging.

A jail of our own turns each marker line we append to its log into one "[rotation-marker] Found
<address>" line in fail2ban's log, so counting the markers across the rotation shows whether any
line was lost. The addresses are from the documentation range and only ever written to a file.
"""

import re
import time

import pytest

RC = "/etc/rc.d/rc.fail2ban"
LOG = "/var/log/fail2ban.log"
MARKER_LOG = "/var/log/rotation-marker.log"
LOGROTATE = "logrotate -f -s /root/logrotate.state /etc/logrotate.d/fail2ban"

MARKER_FILTER = """[Definition]
failregex = ^rotation-marker <ADDR>$
datepattern = {NONE}
"""

MARKER_JAIL = f"""[rotation-marker]
enabled = true
backend = polling
filter = rotation-marker
logpath = {MARKER_LOG}
maxretry = 1000000
"""

FOUND = re.compile(r"\[rotation-marker\] Found 2001:db8::([0-9a-f]+) ")


def write_markers(first, last, pause=0):
    """Shell that appends markers first..last to the jail's log, numbered in the address."""
    pause = f"sleep {pause}; " if pause else ""
    line = "printf 'rotation-marker 2001:db8::%x\\n' $i"
    return f"for i in $(seq {first} {last}); do {line} >> {MARKER_LOG}; {pause}done"


def markers_in(host, path):
    text = host.run(f"cat {path} 2>/dev/null").stdout
    return [int(number, 16) for number in FOUND.findall(text)]


def wait_for_markers(host, count, paths=(LOG, LOG + ".1"), limit=60):
    deadline = time.monotonic() + limit
    while True:
        found = [marker for path in paths for marker in markers_in(host, path)]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


@pytest.fixture(scope="module")
def logging_host(installed_host):
    installed_host.run(f"""set -e
        printf '%s' '{MARKER_FILTER}' > /etc/fail2ban/filter.d/rotation-marker.conf
        printf '%s' '{MARKER_JAIL}' > /etc/fail2ban/jail.d/rotation-marker.local
        : > {MARKER_LOG}
        {RC} restart
        chown root:adm {LOG}
        chmod 0640 {LOG}
        """, check=True)
    return installed_host


def test_rotation_while_the_server_logs_loses_no_line(logging_host):
    host = logging_host
    host.run(write_markers(1, 100), check=True)
    assert len(wait_for_markers(host, 100, paths=(LOG,))) == 100

    during = host.run(f"""
        ( {write_markers(101, 400, pause=0.01)} ) &
        sleep 0.5
        {LOGROTATE}
        status=$?
        wait $!
        exit $status
        """, timeout=120)
    assert during.returncode == 0, during.stderr
    host.run(write_markers(401, 500), check=True)

    found = wait_for_markers(host, 500)
    assert sorted(found) == list(range(1, 501)), "lost or doubled lines across the rotation"
    assert set(range(1, 101)) <= set(markers_in(host, LOG + ".1"))
    assert set(range(401, 501)) <= set(markers_in(host, LOG)), "the server did not move to the new log"
    new_log = host.host.file(LOG)
    assert new_log.mode == 0o640
    assert (new_log.user, new_log.group) == ("root", "adm")


def test_rotation_with_the_server_stopped(logging_host):
    host = logging_host
    assert host.run(f"{RC} stop").returncode == 0
    result = host.run(LOGROTATE)
    assert result.returncode == 0, result.stderr
    # delaycompress: the previous rotation's file is compressed now.
    compressed = host.run(f"gzip -dc {LOG}.2.gz", check=True).stdout
    assert len(FOUND.findall(compressed)) >= 100

    host.run(f"rm -f {LOG}", check=True)
    result = host.run(LOGROTATE)
    assert result.returncode == 0, result.stderr
