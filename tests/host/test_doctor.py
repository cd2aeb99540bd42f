"""qmail-f2b doctor on a throwaway copy of an installed mail host: all OK as installed, and every
WARN and FAIL it knows, each provoked by the real condition.

The tests share one host; each starts from it as installed (back_as_installed), whatever ran before.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from installer.shared import releases
from tests.support.mailhost import RC, TOOL, dovecot_failures

JAILS = ("dovecot", "qmail-smtp", "qmail-submission", "vpopmail", "qmailadmin", "roundcube", "custom")
LOGS = {"dovecot": "/var/log/dovecot/dovecot.log", "qmail-smtp": "/var/log/qmail/smtpd/current",
        "qmail-submission": "/var/log/qmail/submission/current", "vpopmail": "/var/log/maillog",
        "qmailadmin": "/var/log/qma-auth.log", "roundcube": "/var/www/htdocs/roundcube/logs/userlogins"}
# Settings tried here go beside the installed ones, read after them.
JAIL_EXTRA = "/etc/fail2ban/jail.d/zz-test.local"
SERVER_EXTRA = "/etc/fail2ban/fail2ban.d/zz-test.local"


@pytest.fixture
def extra(host):
    """Write extra jail or server settings for one test; they are gone after it."""
    def write(path, text):
        host.run(f"cat > {path} <<'EOF'\n{text}\nEOF", check=True)
    yield write
    host.run(f"rm -f {JAIL_EXTRA} {SERVER_EXTRA}", check=True)


def doctor(host, env="", wrapper=""):
    """(exit status, lines) of qmail-f2b doctor, outside an SSH session unless env says otherwise."""
    result = host.run(f"{wrapper} env -u SSH_CLIENT {env} {TOOL} doctor", timeout=120)
    assert result.stderr == ""
    return result.returncode, result.stdout.splitlines()


def found(lines, level, text):
    """The line of that level that holds text (exactly one)."""
    hits = [line for line in lines if line.startswith(f"{level:<4}  ") and text in line]
    assert len(hits) == 1, f"no single {level} line with {text!r} in:\n" + "\n".join(lines)
    return hits[0][6:]


def test_a_fresh_install_is_all_ok(host):
    status, lines = doctor(host)
    assert status == 0
    assert all(line.startswith("OK    ") for line in lines), "\n".join(lines)
    messages = [line[6:] for line in lines]
    assert messages[:3] == ["running as root", "fail2ban 1.0.2 runs on Python 3.11" + messages[1].split("3.11", 1)[1],
                            "fail2ban is running"]
    assert messages[3] == f"fail2ban accepts the configuration; enabled jails: {', '.join(JAILS)}"
    assert messages[4:6] == ["can change the firewall: added and removed a rule in a scratch chain with iptables",
                             "can change the firewall's sets: created, filled and destroyed a scratch set with ipset"]
    # banaction = iptables, with ipset installed: the jails' bans are in ipsets matched by iptables rules.
    assert messages[6].startswith("the jails ban with ipset (matched by iptables over nf_tables here); working"
                                  " here: nftables, iptables over nf_tables")
    assert messages[7:9] == [
        "the jails keep their bans in firewall sets loaded in batches (qmail-f2b-set.py): 5,000 bans and their"
        " restore take seconds",
        "a ban ends the client's open sessions: ss -K closes their sockets and conntrack -D removes their entries"]
    assert messages[9:15] == [f"jail {jail}: {LOGS[jail]}: its filter matches 0 of 0 lines" for jail in JAILS[:-1]]
    assert messages[15:18] == [
        "no jail sees nearly all its failures come from one private address",
        "dbpurgeage (180d) covers the longest bantime (custom, 180d)",
        "no SSH session here (SSH_CLIENT is unset): no admin address to check"]
    assert messages[18:] == [f"firewall of {jail}: ipsets qf2b4-{jail}, qf2b6-{jail} hold 0 entries, covering"
                             " fail2ban's 0 bans" for jail in JAILS]


def test_a_ban_missing_from_the_firewall_fails(host):
    dovecot_failures(host, "192.0.2.9", 10)
    host.run("for i in $(seq 80); do ipset test qf2b4-dovecot 192.0.2.9 2>/dev/null && break;"
             " sleep 0.25; done", check=True, timeout=60)
    status, lines = doctor(host)
    assert status == 0
    assert found(lines, "OK", "firewall of dovecot") == (
        "firewall of dovecot: ipsets qf2b4-dovecot, qf2b6-dovecot hold 1 entry, covering fail2ban's 1 ban")
    # One element taken out behind fail2ban: the sets stay, so nothing puts it back by itself.
    host.run("ipset del qf2b4-dovecot 192.0.2.9", check=True)
    status, lines = doctor(host)
    assert status == 1
    assert found(lines, "FAIL", "firewall of dovecot") == (
        "firewall of dovecot: ipsets qf2b4-dovecot, qf2b6-dovecot lack 1 of fail2ban's 1 ban (192.0.2.9): the"
        " firewall was flushed or reloaded behind fail2ban; put them back with /etc/rc.d/rc.fail2ban restart")


def test_json_gives_the_same_checks(host):
    result = host.run(f"env -u SSH_CLIENT {TOOL} doctor --json", check=True)
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert [check["level"] for check in report["checks"]] == ["OK"] * 25
    assert report["checks"][0] == {"level": "OK", "check": "root", "message": "running as root"}


def test_a_filter_counts_the_failures_in_its_log(host):
    host.run("""stamp=$(LC_ALL=C date '+%Y/%m/%d %H:%M:%S')
for i in 1 2 3; do echo "$stamp user:postmaster@example.com ip:203.0.113.$i auth:failed"; done >> /var/log/qma-auth.log
echo "$stamp user:postmaster@example.com ip:203.0.113.9 auth:success" >> /var/log/qma-auth.log""", check=True)
    try:
        assert found(doctor(host)[1], "OK", "jail qmailadmin") == \
            "jail qmailadmin: /var/log/qma-auth.log: its filter matches 3 of 4 lines"
    finally:
        host.run(": > /var/log/qma-auth.log", check=True)


def test_failures_from_one_private_address_warn_of_a_hidden_network(host):
    # As a rootless port forwarder (slirp4netns) shows every client: from its gateway, 10.0.2.2.
    dovecot_failures(host, "10.0.2.2", 12)
    try:
        status, lines = doctor(host)
        assert status == 0
        assert found(lines, "WARN", "a private address") == (
            "jail dovecot: 12 of its 12 failures come from 10.0.2.2, a private address: a NAT gateway or a rootless"
            " port forwarder hides the real clients, and banning it would lock everyone out; let the service see"
            " the clients' own addresses")
    finally:
        host.run(f": > /var/log/dovecot/dovecot.log; {TOOL} unban 10.0.2.2", check=True)


def test_an_ssh_client_outside_ignoreip_is_warned_about(host):
    status, lines = doctor(host, env="SSH_CLIENT='198.51.100.9 50022 22'")
    assert status == 0
    assert found(lines, "WARN", "SSH") == (
        f"your SSH client 198.51.100.9 is not in ignoreip of {', '.join(JAILS)}: a few mistyped passwords would"
        " lock you out; add it to ignoreip in /etc/qmail-fail2ban/site.conf and run ./install again")
    assert found(doctor(host, env="SSH_CLIENT='127.0.0.1 50022 22'")[1], "OK", "SSH") == \
        "your SSH client 127.0.0.1 is in ignoreip"


RELOAD = "under [Definition] in /etc/qmail-fail2ban/fail2ban-fail2ban.cf and run /etc/rc.d/rc.fail2ban reload"


@pytest.mark.parametrize("setting, warning", [
    ("dbpurgeage = 1d", "dbpurgeage (1d) is shorter than the bantime of custom (180d): a restart forgets the older"
                        f" of its bans; set dbpurgeage = 180d {RELOAD}"),
    ("dbpurgeage = soon", f"cannot read dbpurgeage = soon: give a time such as 180d {RELOAD}"),
    ("dbfile = :memory:", "fail2ban keeps no database (dbfile = :memory:): every ban is lost at a restart; set"
                          f" dbfile = /var/lib/fail2ban/fail2ban.sqlite3 {RELOAD}"),
])
def test_bans_the_database_would_forget_are_warned_about(host, extra, setting, warning):
    extra(SERVER_EXTRA, f"[Definition]\n{setting}")
    status, lines = doctor(host)
    assert status == 0
    assert found(lines, "WARN", "d") == warning


def test_a_ban_for_ever_is_warned_about(host, extra):
    extra(JAIL_EXTRA, "[custom]\nbantime = -1")
    assert found(doctor(host)[1], "WARN", "for ever") == (
        "jail custom bans for ever (bantime = -1), but the database forgets bans older than dbpurgeage (180d):"
        " give custom a bantime")


def test_nftables_without_ranges_is_warned_about_and_really_drops_cidr_bans(host, extra):
    extra(JAIL_EXTRA, "[custom]\naction = nftables-allports[name=custom, protocol=tcp]")
    try:
        status, lines = doctor(host)
        assert status == 0
        assert found(lines, "WARN", "nftables") == (
            "the jails ban with nftables, whose fail2ban action keeps no ranges (no `flags interval` in"
            " action.d/nftables.conf): a CIDR ban stays out of the firewall; use banaction = iptables in"
            " /etc/qmail-fail2ban/site.conf and run ./install again")
        host.run(f"{RC} restart", check=True, timeout=90)
        host.run(f"{TOOL} ban 198.51.100.0/24 192.0.2.9", check=True)
        shown = ""
        for _ in range(40):
            shown = host.run("nft list set inet f2b-table addr-set-custom").stdout
            if "192.0.2.9" in shown:
                break
            host.run("sleep 0.25")
        assert "192.0.2.9" in shown and "198.51.100.0/24" not in shown
    finally:
        host.run(f"rm -f {JAIL_EXTRA} && {RC} restart && {TOOL} unban 198.51.100.0/24 192.0.2.9", check=True,
                 timeout=90)


def test_a_missing_log_fails_the_configuration_and_its_jail(host):
    host.run("mv /var/log/qma-auth.log /var/log/qma-auth.log.away", check=True)
    try:
        status, lines = doctor(host)
        assert status == 1
        assert found(lines, "FAIL", "configuration") == (
            "fail2ban rejects the configuration: Failed during configuration: Have not found any log file for"
            " qmailadmin jail: fix it, or run ./install again")
        assert found(lines, "FAIL", "jail qmailadmin:") == (
            "jail qmailadmin: /var/log/qma-auth.log does not exist, so fail2ban will not start: create it (touch"
            " /var/log/qma-auth.log) or disable [[qmailadmin]] in /etc/qmail-fail2ban/site.conf")
    finally:
        host.run("mv /var/log/qma-auth.log.away /var/log/qma-auth.log", check=True)


def test_an_unreadable_configuration_fails_and_the_offline_checks_still_run(host, extra):
    extra(JAIL_EXTRA, "this line is no setting")
    status, lines = doctor(host)
    assert status == 1
    assert found(lines, "FAIL", "configuration") == (
        "reading the fail2ban configuration (fail2ban-client -d) failed: Failed during configuration: File contains"
        f" no section headers. file: '{JAIL_EXTRA}', line: 1 'this line is no setting\\n':"
        " fix it, or run ./install again")
    assert found(lines, "OK", "working here").startswith(
        "working here: nftables, iptables over nf_tables, legacy iptables (the jails' actions are unknown: see the"
        " configuration check)")
    found(lines, "OK", "scratch chain")
    assert not any("jail dovecot" in line for line in lines)
    status, lines = doctor(host, wrapper="setpriv --bounding-set=-net_admin --inh-caps=-net_admin")
    assert found(lines, "FAIL", "working here").startswith("working here: none")


def test_a_regex_that_passes_the_configuration_test_but_not_the_server_fails(host, extra):
    extra(JAIL_EXTRA, "[qmailadmin]\nfailregex = (")
    host.run("echo '2024/01/02 10:00:00 user:a@example.com ip:203.0.113.1 auth:failed' > /var/log/qma-auth.log",
             check=True)
    try:
        status, lines = doctor(host)
        assert status == 1
        found(lines, "OK", "fail2ban accepts the configuration")
        assert found(lines, "FAIL", "qmailadmin") == (
            "jail qmailadmin: fail2ban-regex cannot match /var/log/qma-auth.log: missing ), unterminated subpattern"
            " at position 0: fix its filter")
    finally:
        host.run(": > /var/log/qma-auth.log", check=True)


def test_with_fail2ban_stopped_the_offline_checks_still_run(host):
    host.run(f"{RC} stop", check=True, timeout=90)
    try:
        status, lines = doctor(host)
        assert status == 1
        assert found(lines, "FAIL", "running") == "fail2ban is not running: start it with /etc/rc.d/rc.fail2ban start"
        assert [line[:4] for line in lines].count("OK  ") == 17
        found(lines, "OK", "jail dovecot")
    finally:
        host.run(f"{RC} start", check=True, timeout=90)


def test_without_net_admin_the_firewall_checks_fail(host):
    status, lines = doctor(host, wrapper="setpriv --bounding-set=-net_admin --inh-caps=-net_admin")
    assert status == 1
    found(lines, "OK", "running as root")
    found(lines, "OK", "fail2ban is running")
    message = found(lines, "FAIL", "cannot change the firewall with")
    assert message.startswith("cannot change the firewall with iptables (")
    assert message.endswith("); the NET_ADMIN capability is missing: fail2ban needs root with NET_ADMIN (in a"
                            " container, add the NET_ADMIN capability)")
    assert found(lines, "FAIL", "the jails ban with").startswith("the jails ban with ipset, which does not work"
                                                                " here (")


def test_without_firewall_tools_the_firewall_checks_fail(host):
    host.run("mv /usr/sbin/iptables /usr/sbin/iptables.away", check=True)
    try:
        status, lines = doctor(host)
        assert status == 1
        found(lines, "OK", "scratch chain with nft")
        assert found(lines, "FAIL", "the jails ban with") == (
            "the jails ban with ipset, which does not work here (iptables is not installed); working here:"
            " nftables, iptables over nf_tables, legacy iptables: set banaction in /etc/qmail-fail2ban/site.conf"
            " to one that works here and run ./install again")
        host.run("mv /usr/sbin/nft /usr/sbin/nft.away", check=True)
        assert found(doctor(host)[1], "FAIL", "neither") == \
            "neither iptables nor nft is installed: install iptables"
    finally:
        host.run("mv /usr/sbin/iptables.away /usr/sbin/iptables; [ ! -e /usr/sbin/nft.away ] ||"
                 " mv /usr/sbin/nft.away /usr/sbin/nft", check=True)


def test_as_another_user_root_and_the_logs_fail(host):
    # qmail-f2b runs on the Python that ran ./install; let other users reach it (in the throwaway only).
    host.run("""python=$(sed -n '1s/^#!//p' /usr/sbin/qmail-f2b); folder=$(dirname "$python")
while [ "$folder" != / ]; do chmod o+rx "$folder"; folder=$(dirname "$folder"); done""", check=True)
    status, lines = doctor(host, wrapper="setpriv --reuid=65534 --regid=65534 --clear-groups")
    assert status == 1
    assert found(lines, "FAIL", "root:") == (
        "not running as root: fail2ban and these checks need root; run qmail-f2b doctor as root")
    assert found(lines, "FAIL", "whether it runs") == "cannot ask fail2ban whether it runs: only root may"
    assert found(lines, "FAIL", "qmailadmin") == (
        "jail qmailadmin: cannot read /var/log/qma-auth.log (Permission denied): run as root, or fix its permissions")


def newer_python():
    """A Python 3.12 or later on this machine, as its real path, or None: on PATH, or installed beside
    the Python running the tests (as version managers keep them)."""
    names = ("python3.14", "python3.13", "python3.12")
    candidates = [shutil.which(name) for name in names]
    candidates += sorted(str(path) for name in names for path in Path(sys.base_prefix).parent.glob(f"*/bin/{name}"))
    for path in filter(None, candidates):
        result = subprocess.run([path, "-c", "import sys; print(sys.executable)"], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
        if result.returncode == 0:
            return result.stdout.strip()
    return None


def with_server_python(host, python):
    host.run(f"cp -p /usr/bin/fail2ban-server /tmp/fail2ban-server.saved && sed -i '1s|.*|#!{python}|'"
             " /usr/bin/fail2ban-server", check=True)


def put_back_server(host):
    host.run("cp -p /tmp/fail2ban-server.saved /usr/bin/fail2ban-server", check=True)


def test_a_python_that_is_gone_fails(host):
    with_server_python(host, "/usr/bin/python3.9")
    try:
        assert found(doctor(host)[1], "FAIL", "Python") == (
            "fail2ban runs on /usr/bin/python3.9, which does not start here: run ./install again to build it for"
            " this host's Python")
    finally:
        put_back_server(host)


def test_a_python_too_new_for_the_release_fails(host):
    python = newer_python()
    if python is None:
        pytest.skip("no Python 3.12 or later here")
    with_server_python(host, python)
    try:
        message = found(doctor(host)[1], "FAIL", "asyncore")
        assert message.startswith("fail2ban 1.0.2 cannot run on Python 3.1")
        assert message.endswith(f"use fail2ban 1.1.x ({releases.NEWEST}), or pass --python with a Python 3.11 or"
                                " older; then run ./install again")
    finally:
        put_back_server(host)
