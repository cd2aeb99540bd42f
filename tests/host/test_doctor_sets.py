"""qmail-f2b doctor on a host whose jails keep their bans in firewall sets (site.conf banaction =
nftables: our set action), and what it says when the firewall no longer holds what fail2ban banned."""

import pytest

from tests.support.mailhost import TOOL, dovecot_failures, installed_mail_host

JAILS = ("dovecot", "qmail-smtp", "qmail-submission", "vpopmail", "qmailadmin", "roundcube", "custom")


@pytest.fixture(scope="module")
def host(fixture_tarball, tmp_path_factory):
    site_conf = tmp_path_factory.mktemp("site") / "site.conf"
    site_conf.write_text("[alerts]\ndest = postmaster@example.com\nsender = fail2ban@mail.example.com\n"
                         "[defaults]\nbanaction = nftables\n")
    site_conf.parent.chmod(0o755)
    with installed_mail_host(fixture_tarball, "--config", site_conf) as host:
        yield host


def doctor(host):
    result = host.run(f"env -u SSH_CLIENT {TOOL} doctor", timeout=120)
    assert result.stderr == ""
    return result.returncode, result.stdout.splitlines()


def lines_with(lines, text):
    return [line for line in lines if text in line]


def test_doctor_checks_the_sets_of_the_set_action_and_flags_a_flushed_one(host):
    dovecot_failures(host, "192.0.2.9", 10)
    host.run(f"{TOOL} ban 198.51.100.0/24 2001:db8:5::/48", check=True)
    host.run("for i in $(seq 80); do nft list set inet qmail-f2b-dovecot addr4 | grep -q 192.0.2.9 && break;"
             " sleep 0.25; done", check=True, timeout=60)
    status, lines = doctor(host)
    assert status == 0, "\n".join(lines)
    assert lines_with(lines, "scratch chain") == [
        "OK    can change the firewall: added and removed a rule in a scratch chain with nft"]
    assert lines_with(lines, "the jails ban with") == [
        "OK    the jails ban with nftables; working here: nftables, iptables over nf_tables, legacy iptables"]
    sets = "nftables sets addr4, net4, addr6, net6 of table inet qmail-f2b-"
    assert lines_with(lines, "covering") == [
        f"OK    firewall of {jail}: {sets}{jail} hold {held}, covering fail2ban's {bans}"
        for jail, held, bans in [("dovecot", "1 entry", "1 ban")]
        + [(jail, "0 entries", "0 bans") for jail in JAILS[1:-1]] + [("custom", "2 entries", "2 bans")]]

    host.run("nft flush set inet qmail-f2b-dovecot addr4 && nft flush set inet qmail-f2b-custom net6", check=True)
    status, lines = doctor(host)
    assert status == 1
    assert lines_with(lines, "FAIL") == [
        f"FAIL  firewall of {jail}: {sets}{jail} lack 1 of fail2ban's {bans} ({address}): the firewall was"
        " flushed or reloaded behind fail2ban; put them back with /etc/rc.d/rc.fail2ban restart"
        for jail, bans, address in (("dovecot", "1 ban", "192.0.2.9"), ("custom", "2 bans", "2001:db8:5::/48"))]
    nagios = host.run(f"{TOOL} doctor --nagios", timeout=120)
    assert nagios.returncode == 2
    assert nagios.stdout.startswith("QMAIL-F2B CRITICAL - firewall of dovecot: nftables sets")


def test_doctor_checks_the_ipsets_of_the_set_action_and_flags_a_flushed_one(host):
    host.run("printf '[custom]\\naction = qmail-f2b-set.py[firewall=ipset]\\n' > /etc/fail2ban/jail.d/zz-ipset.local"
             " && /etc/rc.d/rc.fail2ban restart >/dev/null", check=True, timeout=120)
    try:
        host.run(f"fail2ban-client unban --all >/dev/null && {TOOL} ban 192.0.2.77", check=True)
        host.run("for i in $(seq 80); do ipset list qf2b4-custom | grep -q 192.0.2.77 && break; sleep 0.25; done",
                 check=True, timeout=60)
        status, lines = doctor(host)
        assert lines_with(lines, "ipset") == [
            "OK    can change the firewall's sets: created, filled and destroyed a scratch set with ipset",
            "OK    the jails ban with ipset (matched by iptables over nf_tables here), nftables; working here:"
            " nftables, iptables over nf_tables, legacy iptables",
            "OK    firewall of custom: ipsets qf2b4-custom, qf2b6-custom hold 1 entry, covering fail2ban's 1 ban"]
        host.run("ipset flush qf2b4-custom", check=True)
        status, lines = doctor(host)
        assert status == 1
        assert lines_with(lines, "FAIL") == [
            "FAIL  firewall of custom: ipsets qf2b4-custom, qf2b6-custom lack 1 of fail2ban's 1 ban (192.0.2.77):"
            " the firewall was flushed or reloaded behind fail2ban; put them back with /etc/rc.d/rc.fail2ban restart"]
    finally:
        host.run("rm -f /etc/fail2ban/jail.d/zz-ipset.local && /etc/rc.d/rc.fail2ban restart >/dev/null", check=True,
                 timeout=120)
