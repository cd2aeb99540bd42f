"""qmail-f2b bans, status, ban, unban and log against a real fail2ban-server on a throwaway copy
of an installed mail host, with its own firewall.

The tests share one host; each starts from it as installed (back_as_installed): fail2ban running,
nothing banned, empty logs, whatever ran before. Addresses are documentation ranges.
"""

import ipaddress
import json
import re
import time

import pexpect
import pytest

from tests.support.mailhost import DOVECOT_LOG, RC, TOOL, dovecot_failures

NOT_RUNNING = "fail2ban is not running: start it with /etc/rc.d/rc.fail2ban start"
BAN_WAIT = 20


def f2b(host, arguments, env=""):
    """qmail-f2b as the admin runs it (outside an SSH session unless env says otherwise)."""
    return host.run(f"env -u SSH_CLIENT {env} {TOOL} {arguments}", timeout=90)


def lines(result):
    return result.stdout.splitlines()


def firewall(host):
    """Both rule sets and the ipsets, without the comments that carry the time."""
    result = host.run("iptables-save && ip6tables-save && ipset save", check=True)
    return [line for line in result.stdout.splitlines() if not line.startswith("#")]


def holds(host, jail, address):
    """Whether the firewall bans address in jail: in the jail's ipset (banaction iptables where ipset
    is installed, as here) or by fail2ban's own rule."""
    network = ipaddress.ip_network(address, strict=False)
    element = str(network.network_address) if network.prefixlen == network.max_prefixlen else str(network)
    rules = firewall(host)
    return (f"add qf2b{network.version}-{jail} {element}" in rules
            or any(line.startswith(f"-A f2b-{jail} -s {network} ") for line in rules))


def banned(host):
    return json.loads(f2b(host, "--json bans").stdout)


def state(host):
    return banned(host), firewall(host)


def jails(host):
    status = host.run("fail2ban-client status", check=True).stdout
    return sorted(name.strip() for name in re.search(r"Jail list:\s*(.*)$", status, re.M).group(1).split(","))


def wait_for_ban(host, jail, address):
    deadline = time.monotonic() + BAN_WAIT
    while time.monotonic() < deadline:
        if address in banned(host).get(jail, []):
            return True
        time.sleep(0.25)
    return False


def test_without_bans_both_forms_say_so(host):
    for arguments in ("", "bans"):
        result = f2b(host, arguments)
        assert (result.returncode, result.stdout, result.stderr) == (0, "No IPs have been banned\n", "")


def test_status_shows_every_jail_with_its_counts_and_logs(host):
    # The totals count since the server started: a fresh one shows them all at zero.
    host.run(f"{RC} restart", check=True, timeout=90)
    result = f2b(host, "status")
    assert result.returncode == 0, result.stderr
    header, *rows = lines(result)
    assert header.split() == ["JAIL", "FAILED", "NOW/TOTAL", "BANNED", "NOW/TOTAL", "LOG", "FILES"]
    assert sorted(row.split()[0] for row in rows) == jails(host)
    assert "dovecot 0/0 0/0 /var/log/dovecot/dovecot.log" in [" ".join(row.split()) for row in rows]
    assert "custom 0/0 0/0 -" in [" ".join(row.split()) for row in rows]
    one = f2b(host, "status dovecot")
    assert [" ".join(row.split()) for row in lines(one)[1:]] == ["dovecot 0/0 0/0 /var/log/dovecot/dovecot.log"]
    as_json = json.loads(f2b(host, "status --json").stdout)
    assert sorted(as_json) == jails(host)
    assert as_json["dovecot"] == {"currently_failed": 0, "total_failed": 0, "currently_banned": 0,
                                  "total_banned": 0, "log_files": [DOVECOT_LOG], "banned": []}


def test_a_manual_ban_of_an_address_reaches_the_firewall_and_unban_lifts_it(host):
    result = f2b(host, "ban 192.0.2.7")
    assert (result.returncode, result.stdout, result.stderr) == (0, "Banned custom IP: 1\n", "")
    assert lines(f2b(host, "")) == ["Banned in custom: 192.0.2.7"]
    assert holds(host, "custom", "192.0.2.7")
    again = f2b(host, "ban 192.0.2.7")
    assert lines(again) == ["Banned custom IP: 0", "Already banned in custom: 192.0.2.7"]
    result = f2b(host, "unban 192.0.2.7")
    assert (result.returncode, result.stdout, result.stderr) == (0, "Unbanned IP from custom: 1\n", "")
    assert not any("192.0.2.7" in line for line in firewall(host))
    assert lines(f2b(host, "")) == ["No IPs have been banned"]


def test_manual_bans_of_ranges_reach_both_firewalls(host):
    result = f2b(host, "ban 198.51.100.0/24 2001:db8:5::/48")
    assert lines(result) == ["Banned custom IP: 2"], result.stderr
    assert lines(f2b(host, "bans")) == ["Banned in custom: 198.51.100.0/24 2001:db8:5::/48"]
    assert holds(host, "custom", "198.51.100.0/24")
    assert holds(host, "custom", "2001:db8:5::/48")
    inside = f2b(host, "unban 198.51.100.7")
    assert lines(inside) == ["198.51.100.7 was not banned in any jail, but 198.51.100.0/24 is banned in custom:"
                             " unban that"]
    result = f2b(host, "unban 198.51.100.0/24 2001:db8:5::/48 192.0.2.99")
    assert lines(result) == ["Unbanned IP from custom: 2", "192.0.2.99 was not banned in any jail"]
    assert result.returncode == 0
    assert not any("198.51.100" in line or "2001:db8:5" in line for line in firewall(host))


def test_a_wide_range_is_banned_only_with_force(host):
    result = f2b(host, "ban --force 198.18.0.0/15")
    assert lines(result) == ["Banned custom IP: 1"], result.stderr
    assert holds(host, "custom", "198.18.0.0/15")
    assert lines(f2b(host, "unban 198.18.0.0/15")) == ["Unbanned IP from custom: 1"]


def test_a_brute_force_is_banned_in_the_firewall_and_unban_lifts_it(host):
    failed_before = json.loads(f2b(host, "--json status dovecot").stdout)["dovecot"]["total_failed"]
    dovecot_failures(host, "203.0.113.7", 6)
    assert wait_for_ban(host, "dovecot", "203.0.113.7"), host.run("tail -20 /var/log/fail2ban.log").stdout
    assert lines(f2b(host, "")) == ["Banned in dovecot: 203.0.113.7"]
    assert holds(host, "dovecot", "203.0.113.7")
    dovecot = json.loads(f2b(host, "--json status dovecot").stdout)["dovecot"]
    assert (dovecot["currently_banned"], dovecot["total_failed"] - failed_before, dovecot["banned"]) == \
        (1, 6, ["203.0.113.7"])
    result = f2b(host, "unban 203.0.113.7")
    assert (result.returncode, lines(result)) == (0, ["Unbanned IP from dovecot: 1"])
    assert not any("203.0.113.7" in line for line in firewall(host))


def test_localhost_is_never_banned(host):
    dovecot_failures(host, "127.0.0.1", 10)
    dovecot_failures(host, "::1", 10)
    # Written after them, so once it is banned the loopback lines have been read.
    dovecot_failures(host, "203.0.113.8", 6)
    assert wait_for_ban(host, "dovecot", "203.0.113.8")
    assert banned(host)["dovecot"] == ["203.0.113.8"]
    assert not any("127.0.0.1" in line or "-s ::1" in line for line in firewall(host))
    assert lines(f2b(host, "unban 203.0.113.8")) == ["Unbanned IP from dovecot: 1"]


BAD_INPUT = [
    ("ban garbage",
     "qmail-f2b: error: 'garbage' is not an IP address or CIDR range (like 192.0.2.7 or 192.0.2.0/24)"),
    ("ban 192.0.2.7 mail.example.com",
     "qmail-f2b: error: 'mail.example.com' is not an IP address or CIDR range (like 192.0.2.7 or 192.0.2.0/24)"),
    ("ban 192.0.2.5/24",
     "qmail-f2b: error: 192.0.2.5/24 has address bits set after the /24: did you mean 192.0.2.0/24?"),
    ("unban 999.1.1.1",
     "qmail-f2b: error: '999.1.1.1' is not an IP address or CIDR range (like 192.0.2.7 or 192.0.2.0/24)"),
    ("ban 192.0.2.7 127.0.0.1",
     "qmail-f2b: error: refusing to ban 127.0.0.1: it overlaps 127.0.0.0/8, which ignoreip says never to ban"),
    ("ban ::1", "qmail-f2b: error: refusing to ban ::1: it overlaps ::1, which ignoreip says never to ban"),
    ("ban --force 0.0.0.0/0",
     "qmail-f2b: error: refusing to ban 0.0.0.0/0: it overlaps 127.0.0.0/8, which ignoreip says never to ban"),
    ("ban 192.0.2.7 10.0.0.0/8",
     "qmail-f2b: error: refusing to ban 10.0.0.0/8: it is wider than /16; add --force if you really mean it"),
    ("ban 2001:db8::/32",
     "qmail-f2b: error: refusing to ban 2001:db8::/32: it is wider than /48; add --force if you really mean it"),
    ("status nojail", "qmail-f2b: error: no jail named 'nojail' is running; the jails are: custom, dovecot,"
                      " qmail-smtp, qmail-submission, qmailadmin, roundcube, vpopmail"),
    ("ban", "qmail-f2b ban: error: the following arguments are required: IP|CIDR (see --help)"),
    ("unban", "qmail-f2b unban: error: the following arguments are required: IP|CIDR (see --help)"),
    ("log -n many", "qmail-f2b log: error: argument -n/--lines: 'many' is not a number of lines (see --help)"),
    ("frobnicate", "qmail-f2b: error: argument command: invalid choice: 'frobnicate' (choose from 'bans',"
                   " 'status', 'ban', 'unban', 'log', 'doctor', 'metrics', 'watchdog', 'report',"
                   " 'fleet') (see --help)"),
]


@pytest.mark.parametrize("arguments, error", BAD_INPUT, ids=[arguments for arguments, _ in BAD_INPUT])
def test_bad_input_gets_one_line_and_changes_nothing(host, arguments, error):
    before = state(host)
    result = f2b(host, arguments)
    assert result.returncode != 0
    assert (result.stdout, result.stderr) == ("", error + "\n")
    assert state(host) == before


def test_the_admins_own_address_is_not_banned(host):
    before = state(host)
    result = f2b(host, "ban 203.0.113.0/24", env="SSH_CLIENT='203.0.113.9 50022 22'")
    assert (result.returncode, result.stderr) == (1, "qmail-f2b: error: refusing to ban 203.0.113.0/24: your SSH"
                                                     " session comes from 203.0.113.9 (SSH_CLIENT)\n")
    assert state(host) == before


def test_log_shows_the_end_of_fail2bans_log(host):
    result = f2b(host, "log -n 3")
    expected = host.run("tail -n 3 /var/log/fail2ban.log", check=True).stdout
    assert (result.returncode, result.stdout) == (0, expected)
    assert len(lines(result)) == 3
    as_json = json.loads(f2b(host, "log -n 2 --json").stdout)
    assert as_json["log"] == "/var/log/fail2ban.log" and len(as_json["lines"]) == 2


def test_log_follow_shows_new_lines_until_interrupted(host):
    # Ctrl-C on the terminal would also end nsenter, whose status pexpect sees: the SIGINT goes to
    # qmail-f2b alone, by the pid the shell had before it became qmail-f2b.
    child = host.pexpect(f"echo pid=$$; exec {TOOL} log -n 0 -f", timeout=BAN_WAIT)
    try:
        child.expect(r"pid=(\d+)")
        pid = child.match.group(1)
        time.sleep(1)
        assert lines(f2b(host, "ban 192.0.2.44")) == ["Banned custom IP: 1"]
        child.expect(r"\[custom\] Ban 192\.0\.2\.44")
        host.run(f"kill -INT {pid}", check=True)
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
    assert lines(f2b(host, "unban 192.0.2.44")) == ["Unbanned IP from custom: 1"]


def test_with_fail2ban_stopped_every_command_says_how_to_start_it(host):
    host.run(f"{RC} stop", check=True, timeout=90)
    try:
        before = firewall(host)
        for arguments in ("", "bans", "status", "status dovecot", "ban 192.0.2.7", "unban 192.0.2.7"):
            result = f2b(host, arguments)
            assert (result.returncode, result.stdout, result.stderr) == (1, "", f"qmail-f2b: error: {NOT_RUNNING}\n")
        assert firewall(host) == before
        # The log is a file: it is there whether fail2ban runs or not.
        assert f2b(host, "log -n 1").returncode == 0
    finally:
        host.run(f"{RC} start", check=True, timeout=90)


def test_both_override_files_take_effect(host):
    """/etc/qmail-fail2ban/fail2ban-jail.cf and fail2ban-fail2ban.cf, put in place by rc.fail2ban."""
    host.run("""printf '[dovecot]\\nmaxretry = 3\\n' > /etc/qmail-fail2ban/fail2ban-jail.cf
printf '[Definition]\\ndbpurgeage = 200d\\n' > /etc/qmail-fail2ban/fail2ban-fail2ban.cf""", check=True)
    host.run(f"{RC} reload", check=True, timeout=90)
    assert host.run("fail2ban-client get dovecot maxretry", check=True).stdout.strip() == "3"
    assert "17280000seconds" in host.run("fail2ban-client get dbpurgeage", check=True).stdout
    dovecot_failures(host, "203.0.113.9", 3)
    assert wait_for_ban(host, "dovecot", "203.0.113.9")
    assert lines(f2b(host, "")) == ["Banned in dovecot: 203.0.113.9"]
