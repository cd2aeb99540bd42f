"""rc.fail2ban against a real fail2ban-server on a throwaway copy of an installed host.

The tests share one host and run in file order; each leaves the server running unless it says
otherwise, so the next one knows where it starts.
"""

import re

import pexpect
import pytest

RC = "/etc/rc.d/rc.fail2ban"
JAIL_LOCAL = "/etc/fail2ban/jail.local"
SOCKET = "/var/run/fail2ban/fail2ban.sock"
PIDFILE = "/var/run/fail2ban/fail2ban.pid"
OVERRIDES = "/etc/qmail-fail2ban"
USAGE = "USAGE: rc.fail2ban start|stop|restart|reload|status|ping"


def rc(host, verb, env=""):
    return host.run(f"{env} {RC} {verb}", timeout=90)


def rc_as_seen(host, verb):
    """What a person at the terminal sees, and the exit status."""
    child = host.pexpect(f"{RC} {verb}", timeout=90)
    child.expect(pexpect.EOF)
    child.close()
    return child.before.replace("\r\n", "\n"), child.exitstatus


def client(host, command):
    return host.run(f"fail2ban-client {command}").stdout


def configured_jails(host):
    dump = host.run("fail2ban-client -d", check=True).stdout
    return sorted(re.findall(r"^\['add', '([^']+)'", dump, re.M))


def running_jails(host):
    status = client(host, "status")
    found = re.search(r"Jail list:\s*(.*)$", status, re.M)
    assert found, status
    return sorted(name.strip() for name in found.group(1).split(",") if name.strip())


def server_pid(host):
    """The pid of the live fail2ban-server, or None."""
    result = host.run(f'pid=$(cat {PIDFILE}) && [ "$(cat /proc/$pid/comm)" = fail2ban-server ] && echo $pid')
    return int(result.stdout) if result.returncode == 0 else None


def server_processes(host):
    return host.run("pgrep -x fail2ban-server").stdout.split()


def kill_9(host, pid):
    host.run(f"kill -9 {pid}; for i in $(seq 100); do [ -e /proc/{pid} ] || break; sleep 0.1; done", check=True)
    assert host.host.file(SOCKET).exists, "a killed server leaves its socket behind"


def assert_answers(host, jails):
    assert "pong" in client(host, "ping")
    assert running_jails(host) == jails


# A jail of our own, so there is one whatever the installer enabled on this host.
TEST_JAIL = """[rc-test]
enabled = true
backend = polling
filter = sshd
logpath = /var/log/rc-test.log
maxretry = 1000000
"""


@pytest.fixture(scope="module")
def jails(installed_host):
    installed_host.run(f"touch /var/log/rc-test.log && printf '%s' '{TEST_JAIL}' > /etc/fail2ban/jail.d/rc-test.local",
                       check=True)
    found = configured_jails(installed_host)
    assert "rc-test" in found
    return found


def test_unknown_verb_prints_usage(installed_host, jails):
    for verb in ("bogus", ""):
        seen, status = rc_as_seen(installed_host, verb)
        assert seen.strip() == USAGE
        assert status == 1


def test_status_and_ping_say_not_running_when_stopped(installed_host):
    rc(installed_host, "stop")
    for verb in ("status", "ping"):
        result = rc(installed_host, verb)
        assert result.returncode == 3
        assert "fail2ban is not running" in result.stderr


def test_start_brings_up_every_jail(installed_host, jails):
    result = rc(installed_host, "start")
    assert result.returncode == 0, result.stderr
    assert_answers(installed_host, jails)
    assert server_pid(installed_host)
    assert installed_host.host.file(SOCKET).is_socket

    status = rc(installed_host, "status")
    assert status.returncode == 0
    assert "Jail list:" in status.stdout
    ping = rc(installed_host, "ping")
    assert ping.returncode == 0
    assert "pong" in ping.stdout


def test_start_when_running_says_so(installed_host):
    pid = server_pid(installed_host)
    seen, status = rc_as_seen(installed_host, "start")
    assert "already running" in seen
    assert status == 0
    assert server_pid(installed_host) == pid


def test_start_after_the_server_was_killed(installed_host, jails):
    pid = server_pid(installed_host)
    kill_9(installed_host, pid)

    result = rc(installed_host, "start")
    assert result.returncode == 0, result.stderr
    assert_answers(installed_host, jails)
    assert server_pid(installed_host) not in (None, pid)


def test_restart_replaces_the_server(installed_host, jails):
    pid = server_pid(installed_host)
    result = rc(installed_host, "restart")
    assert result.returncode == 0, result.stderr
    assert_answers(installed_host, jails)
    assert server_pid(installed_host) not in (None, pid)
    assert len(server_processes(installed_host)) == 1


BREAKAGES = {
    "syntax error": ("[broken\n", "parsing errors"),
    "unknown filter": ("[rc-test-broken]\nenabled = true\nbackend = polling\nfilter = no-such-filter\n"
                       "logpath = /var/log/fail2ban.log\n", "no-such-filter"),
    "missing log file": ("[rc-test-broken]\nenabled = true\nbackend = polling\nfilter = sshd\n"
                         "logpath = /var/log/rc-test-no-such.log\n", "Have not found any log file"),
}


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_broken_configuration_is_refused(installed_host, jails, breakage):
    addition, reason = BREAKAGES[breakage]
    installed_host.run(f"cp -p {JAIL_LOCAL} /root/jail.local.good && printf '\\n%s' '{addition}' >> {JAIL_LOCAL}",
                       check=True)
    try:
        pid = server_pid(installed_host)
        for verb in ("reload", "restart"):
            result = rc(installed_host, verb)
            assert result.returncode == 1, verb
            assert reason in result.stderr, verb
            assert server_pid(installed_host) == pid, f"{verb} touched the running server"
            assert_answers(installed_host, jails)

        assert rc(installed_host, "stop").returncode == 0
        seen, status = rc_as_seen(installed_host, "start")
        assert status == 1
        assert "configuration is broken, not starting" in seen
        assert reason in seen
        assert server_processes(installed_host) == []
    finally:
        installed_host.run(f"mv /root/jail.local.good {JAIL_LOCAL}", check=True)
    assert rc(installed_host, "start").returncode == 0
    assert_answers(installed_host, jails)


def write_override(host, name, text):
    host.run(f"mkdir -p {OVERRIDES} && printf '%s' '{text}' > {OVERRIDES}/{name}", check=True)


def test_jail_override_takes_effect_and_garbage_is_refused(installed_host, jails):
    jail = "rc-test"
    copy = "/etc/fail2ban/jail.d/user-jail.local"
    good = f"[{jail}]\nbantime = 1234\n"
    write_override(installed_host, "fail2ban-jail.cf", good)
    result = rc(installed_host, "reload")
    assert result.returncode == 0, result.stderr
    assert client(installed_host, f"get {jail} bantime").strip() == "1234"

    # Caught by fail2ban's config test, and by the server when it loads the value.
    for garbage in ("garbage\n", f"[{jail}]\nbantime = garbage\n"):
        write_override(installed_host, "fail2ban-jail.cf", garbage)
        for verb in ("reload", "restart"):
            result = rc(installed_host, verb)
            assert result.returncode == 1, (garbage, verb)
            assert "previous override copies" in result.stderr
            assert installed_host.host.file(copy).content_string == good
            assert client(installed_host, f"get {jail} bantime").strip() == "1234"
            assert_answers(installed_host, jails)

    installed_host.run(f"rm -rf {OVERRIDES} {copy}", check=True)
    assert rc(installed_host, "reload").returncode == 0
    assert client(installed_host, f"get {jail} bantime").strip() != "1234"


def test_fail2ban_override_wins_over_the_installed_settings(installed_host, jails):
    copy = "/etc/fail2ban/fail2ban.local"
    installed_host.run(f"if [ -e {copy} ]; then cp -p {copy} /root/fail2ban.local.before; fi", check=True)
    write_override(installed_host, "fail2ban-fail2ban.cf", "[Definition]\ndbpurgeage = 2d\n")
    try:
        result = rc(installed_host, "restart")
        assert result.returncode == 0, result.stderr
        assert "172800" in client(installed_host, "get dbpurgeage")

        write_override(installed_host, "fail2ban-fail2ban.cf", "[Definition]\nloglevel = GARBAGE\n")
        result = rc(installed_host, "reload")
        assert result.returncode == 1
        assert "GARBAGE" in result.stderr
        assert "172800" in client(installed_host, "get dbpurgeage")
        assert_answers(installed_host, jails)
    finally:
        installed_host.run(f"rm -rf {OVERRIDES} {copy}; if [ -e /root/fail2ban.local.before ]; then "
                           f"mv /root/fail2ban.local.before {copy}; fi", check=True)
    assert rc(installed_host, "restart").returncode == 0


def test_a_server_that_does_not_answer(installed_host, jails):
    pid = server_pid(installed_host)
    installed_host.run(f"kill -STOP {pid}", check=True)
    try:
        for verb in ("status", "start"):
            result = rc(installed_host, verb)
            assert result.returncode == 1, verb
            assert f"fail2ban-server {pid} is running but does not answer" in result.stderr
        assert server_processes(installed_host) == [str(pid)]
    finally:
        installed_host.run(f"kill -CONT {pid}", check=True)
    assert rc(installed_host, "stop").returncode == 0
    assert server_processes(installed_host) == []
    assert rc(installed_host, "start").returncode == 0
    assert_answers(installed_host, jails)


def test_stop_clears_what_a_killed_server_left(installed_host):
    kill_9(installed_host, server_pid(installed_host))
    result = rc(installed_host, "stop")
    assert result.returncode == 0
    assert "fail2ban is not running" in result.stdout
    assert not installed_host.host.file(SOCKET).exists
    assert not installed_host.host.file(PIDFILE).exists
    assert rc(installed_host, "start").returncode == 0


def test_stop_leaves_no_process_and_no_socket(installed_host):
    result = rc(installed_host, "stop")
    assert result.returncode == 0, result.stderr
    assert server_processes(installed_host) == []
    assert not installed_host.host.file(SOCKET).exists

    seen, status = rc_as_seen(installed_host, "stop")
    assert "fail2ban is not running" in seen
    assert status == 0
