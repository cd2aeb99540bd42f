"""qmail-f2b metrics, doctor --nagios, watchdog and report on a throwaway copy of an installed mail host.

The tests share one host; each starts from it as installed (back_as_installed). Mail goes through a
sendmail stand-in at /usr/sbin/sendmail that keeps each message (with its -f and recipients) in a
folder, as qmail's sendmail would hand it on; a real node_exporter scrapes the textfile.
"""

import json
import re
import time

import pytest

from tests.support.bandb import write_ban_db
from tests.support.mailhost import DATABASE, RC, TOOL, back_as_installed, dovecot_failures, installed_mail_host

TEXTFILES = "/var/lib/prometheus/node-exporter"
MAILBOX = "/var/spool/test-sendmail"
# Takes what sendmail -f SENDER DEST... is given: one file per message, its arguments first.
SENDMAIL = f"""#!/bin/sh
mkdir -p {MAILBOX}
file={MAILBOX}/$(date +%s%N).eml
{{ echo "ARGS: $*"; cat; }} > "$file.tmp" && mv "$file.tmp" "$file"
"""
PIDFILE = "/var/run/fail2ban/fail2ban.pid"
NODE_EXPORTER_PORT = 9100
WAIT = 30


@pytest.fixture(scope="module")
def host(fixture_tarball):
    with installed_mail_host(fixture_tarball) as host:
        # The stand-in replaces the link to msmtp, rather than writing through it.
        host.run(f"rm -f /usr/sbin/sendmail && cat > /usr/sbin/sendmail <<'EOF'\n{SENDMAIL}EOF\n"
                 "chmod 755 /usr/sbin/sendmail", check=True)
        yield host


@pytest.fixture(autouse=True)
def as_installed(host):
    back_as_installed(host)
    host.run(f"rm -rf {MAILBOX} /var/lib/qmail-fail2ban/watchdog.json", check=True)


def wait_for(host, script, what):
    """Runs script until it succeeds, for at most WAIT seconds."""
    deadline = time.monotonic() + WAIT
    while host.run(script, timeout=WAIT).returncode != 0:
        assert time.monotonic() < deadline, f"{what} did not happen within {WAIT} s"
        time.sleep(0.25)


def our_mails(host):
    """The messages qmail-f2b sent (fail2ban's own sendmail actions mail too, at every jail start)."""
    listing = host.run(f"for f in $(ls {MAILBOX}/*.eml 2>/dev/null); do cat $f; echo '%%END%%'; done").stdout
    mails = []
    for mail in listing.split("%%END%%\n"):
        head, _, body = mail.partition("\n\n")
        # Long headers are folded onto continuation lines: unfolded here, so that a subject reads whole.
        head = head.replace("\n ", " ")
        if "\nSubject: [qmail-f2b]" in head:
            mails.append(f"{head}\n\n{body}")
    return mails


def samples(text):
    """{'name{labels}': value} of a Prometheus exposition."""
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines() if line and not line.startswith("#")}


def banned_in_dovecot(host, address="192.0.2.9"):
    dovecot_failures(host, address, 10)
    # banaction = iptables with ipset installed: the jail's bans are in its ipsets.
    wait_for(host, f"ipset test qf2b4-dovecot {address}", f"the ban of {address}")


def kill_server(host):
    host.run(f"kill -9 $(cat {PIDFILE}) && for i in $(seq 100); do fail2ban-client ping >/dev/null 2>&1 || exit 0;"
             " sleep 0.1; done; exit 1", check=True)


def test_metrics_say_what_the_server_holds_and_node_exporter_serves_them(host):
    banned_in_dovecot(host)
    host.run(f"{TOOL} ban 203.0.113.5 203.0.113.6", check=True)
    result = host.run(f"{TOOL} metrics", check=True, timeout=60)
    found = samples(result.stdout)
    assert found["f2b_up"] == 1 and found["f2b_jail_count"] == 7
    assert found['f2b_jail_banned_current{jail="dovecot"}'] == 1
    assert found['f2b_jail_banned_current{jail="custom"}'] == 2
    assert found['f2b_jail_banned_current{jail="qmail-smtp"}'] == 0
    assert found['f2b_jail_failed_total{jail="dovecot"}'] >= 10
    assert found['f2b_config_jail_max_retries{jail="dovecot"}'] == 6
    assert found['qmail_f2b_jail_firewall_missing{jail="custom"}'] == 0
    assert 0 <= found['qmail_f2b_jail_last_match_seconds{jail="dovecot"}'] < 120
    assert "# TYPE f2b_jail_banned_current gauge" in result.stdout

    written = host.run(f"{TOOL} metrics --textfile {TEXTFILES}", check=True, timeout=60)
    assert written.stdout == f"wrote {TEXTFILES}/qmail_f2b.prom\n"
    exporter = host.run(f"prometheus-node-exporter --collector.disable-defaults --collector.textfile"
                        f" --collector.textfile.directory={TEXTFILES}"
                        f" --web.listen-address=127.0.0.1:{NODE_EXPORTER_PORT} >/var/log/node-exporter.log 2>&1 &"
                        " echo $!", check=True).stdout.strip()
    try:
        scrape = f"curl -sf http://127.0.0.1:{NODE_EXPORTER_PORT}/metrics"
        wait_for(host, f"{scrape} >/dev/null", "node_exporter answering")
        served = samples(host.run(scrape, check=True).stdout)
    finally:
        host.run(f"kill {exporter}")
    assert served["node_textfile_scrape_error"] == 0
    assert served["f2b_up"] == 1
    assert served['f2b_jail_banned_current{jail="dovecot"}'] == 1
    assert served['f2b_jail_banned_current{jail="custom"}'] == 2


def test_bad_textfile_folder_is_one_error_and_writes_nothing(host):
    result = host.run(f"{TOOL} metrics --textfile /nowhere")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("qmail-f2b: error: /nowhere is not a folder") and result.stderr.count("\n") == 1


def test_nagios_is_ok_while_serving_and_critical_without_bans_in_the_firewall_or_a_server(host):
    banned_in_dovecot(host)
    result = host.run(f"{TOOL} doctor --nagios", timeout=60)
    assert result.returncode == 0, result.stdout
    assert re.fullmatch(r"QMAIL-F2B OK - fail2ban is running; the firewall holds every ban of 7 jails \| jails=7;;;0"
                        r" banned=1;;;0 firewall_short_jails=0;;1;0 failures=0;;1;0 warnings=0;1;;0\n", result.stdout)

    # An element taken out behind fail2ban (the sets stay, so nothing puts it back by itself).
    host.run("ipset del qf2b4-dovecot 192.0.2.9", check=True)
    result = host.run(f"{TOOL} doctor --nagios", timeout=60)
    assert result.returncode == 2
    assert result.stdout.startswith("QMAIL-F2B CRITICAL - firewall of dovecot: ipsets qf2b4-dovecot, qf2b6-dovecot"
                                    " lack 1")
    assert "firewall_short_jails=1;;1;0" in result.stdout

    kill_server(host)
    result = host.run(f"{TOOL} doctor --nagios", timeout=60)
    assert result.returncode == 2
    assert result.stdout.startswith("QMAIL-F2B CRITICAL - fail2ban is not running")
    assert result.stdout.count("\n") == 1


def test_watchdog_restarts_a_killed_server_and_mails_once(host):
    banned_in_dovecot(host)
    kill_server(host)
    result = host.run(f"{TOOL} watchdog", timeout=240)
    assert result.returncode == 0, result.stderr
    assert "fail2ban was not answering: started it with /etc/rc.d/rc.fail2ban start" in result.stdout
    wait_for(host, "fail2ban-client banned | grep -q 192.0.2.9", "the restore of the ban")
    wait_for(host, "ipset test qf2b4-dovecot 192.0.2.9", "the ban back in the firewall")
    mails = our_mails(host)
    assert len(mails) == 1
    assert re.match(r"ARGS: -f \S+ \S+@\S+\n", mails[0])
    assert "fail2ban was down and has been restarted" in mails[0]
    assert "did not answer on its socket" in mails[0] and "Bans restored from the database:" in mails[0]
    state = json.loads(host.run("cat /var/lib/qmail-fail2ban/watchdog.json", check=True).stdout)
    assert state["last_action"]["action"] == "restarted"
    assert 'qmail_f2b_watchdog_last_action_timestamp_seconds{action="restarted"}' in host.run(
        f"cat {TEXTFILES}/qmail_f2b.prom", check=True).stdout

    again = host.run(f"{TOOL} watchdog", timeout=120)
    assert again.returncode == 0 and again.stdout.startswith("fail2ban answers\n")
    assert len(our_mails(host)) == 1


def test_watchdog_leaves_a_server_meant_to_stay_down_alone(host):
    host.run(f"chmod -x {RC}", check=True)
    try:
        kill_server(host)
        result = host.run(f"{TOOL} watchdog", timeout=120)
        assert result.returncode == 0
        assert result.stdout.startswith(f"{RC} is not executable: fail2ban is meant to stay down; nothing done")
        assert host.run("fail2ban-client ping").returncode != 0
        assert our_mails(host) == []
    finally:
        host.run(f"chmod +x {RC}", check=True)


def test_watchdog_that_cannot_start_mails_the_reason_once_an_hour(host):
    host.run("mv /var/log/qma-auth.log /var/log/qma-auth.log.away", check=True)
    try:
        kill_server(host)
        first = host.run(f"{TOOL} watchdog", timeout=120)
        assert "fail2ban is not answering and cannot be started: fail2ban rejects the configuration" in first.stdout
        second = host.run(f"{TOOL} watchdog", timeout=120)
        assert second.returncode == 0
        mails = our_mails(host)
        assert len(mails) == 1 and "fail2ban is down and cannot be started" in mails[0]
        assert "Have not found any log file for qmailadmin jail" in mails[0]
        # An hour later it reminds.
        host.run("python3 -c \"import json; p='/var/lib/qmail-fail2ban/watchdog.json'; s=json.load(open(p));"
                 " s['incident']['mailed'] -= 3601; json.dump(s, open(p, 'w'))\"", check=True)
        host.run(f"{TOOL} watchdog", timeout=120)
        assert len(our_mails(host)) == 2
    finally:
        host.run("mv /var/log/qma-auth.log.away /var/log/qma-auth.log", check=True)


def test_report_counts_bans_per_jail_addresses_networks_and_repeat_offenders(host):
    # Expired bans (600 s each), so that the server restores none of them when it starts again.
    hour, day = 3600, 86400
    bans = [["dovecot", "192.0.2.9", hour], ["custom", "203.0.113.5", 2 * day], ["custom", "203.0.113.5", 20 * hour],
            ["custom", "203.0.113.7", 3 * hour], ["custom", "2001:db8:1:2::5", 5 * hour],
            ["custom", "2001:db8:1:3::9", 6 * hour], ["dovecot", "198.51.100.1", 10 * day]]
    host.run(f"{RC} stop >/dev/null", check=True, timeout=120)
    assert write_ban_db(host, DATABASE, bans) == 7
    result = host.run(f"{TOOL} report --json", check=True, timeout=60)
    report = json.loads(result.stdout)
    assert report["bans"] == 6 and report["addresses"] == 5 and report["repeat_offenders"] == 1
    assert report["jails"] == [{"jail": "custom", "bans": 5, "addresses": 4},
                               {"jail": "dovecot", "bans": 1, "addresses": 1}]
    assert report["top_addresses"][0] == {"address": "203.0.113.5", "bans": 2, "jails": ["custom"]}
    assert report["top_repeat_offenders"] == [{"address": "203.0.113.5", "bans": 2, "jails": ["custom"]}]
    assert report["top_networks"] == [{"network": "203.0.113.0/24", "bans": 3, "addresses": 2},
                                      {"network": "2001:db8:1::/48", "bans": 2, "addresses": 2},
                                      {"network": "192.0.2.0/24", "bans": 1, "addresses": 1}]
    text = host.run(f"{TOOL} report --days 1", check=True, timeout=60).stdout
    assert text.startswith("Bans in the last 1 days")
    assert "5 bans of 5 addresses; 0 addresses banned more than once" in text.splitlines()[0]
    assert json.loads(host.run(f"{TOOL} report --days 30 --json", check=True, timeout=60).stdout)["bans"] == 7
    mailed = host.run(f"{TOOL} report --mail", check=True, timeout=60)
    assert mailed.stdout.startswith("mailed the report to ")
    assert "Top 10 networks (/24, /48):\n  203.0.113.0/24" in our_mails(host)[0]
    for bad in ("--days 0", "--days x"):
        refused = host.run(f"{TOOL} report {bad}")
        assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and refused.stdout == ""


def test_install_put_the_watchdog_in_cron_the_hosts_way(host):
    # This host keeps /etc/cron.d and no /var/spool/cron/crontabs: the Debian way.
    cron = host.run("cat /etc/cron.d/qmail-fail2ban", check=True).stdout
    assert f"* * * * * root {TOOL} watchdog >/dev/null 2>&1\n" in cron
    assert f"0 7 * * 1 root {TOOL} report --mail --days 7 >/dev/null 2>&1\n" in cron
    manifest = json.loads(host.run("cat /var/lib/qmail-fail2ban/manifest", check=True).stdout)
    assert manifest["hooks"]["etc/cron.d/qmail-fail2ban"] == [line for line in cron.splitlines()
                                                             if line.startswith(("*", "0"))]
