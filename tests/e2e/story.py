"""The steps of the end-to-end proof, each a function of a MailHost: the tests call them one by
one, the demo tells them all in a row. Each step is narrated as it happens and a failure names it.
"""

import email
import re
import time

from tests.e2e import loglines
from tests.support.mailhost import ADMIN, DEST, RC, SENDER, SERVER_V4, SERVER_V6, SETTINGS, mentions, wait_for

MANUAL_JAIL = "custom"
DEFAULT_PURGE_AGE_DAYS = 1
# Failures that name the admin; none of these may ever be banned.
NEVER_BANNED = (SERVER_V4, SERVER_V6, "127.0.0.1", "::1", ADMIN)


def ports_of(jail):
    return SETTINGS.jail(jail).port


def dovecot_brute_force(host, protocol, attacker, server):
    """Failed logins against the real Dovecot until banned: then the port is shut to the attacker,
    the firewall names it and qmail-f2b lists it."""
    jail = "dovecot"
    port = {"imap": 143, "pop3": 110}[protocol]
    maxretry = SETTINGS.jail(jail).maxretry
    with host.step(f"before: the attacker reaches {protocol.upper()} on {server}:{port}"):
        host.wait_open(server, [port])
    with host.step(f"{maxretry} failed {protocol.upper()} logins from {attacker} to the real Dovecot"):
        host.fail_logins(protocol, server, maxretry)
        last_failure = time.monotonic()
    with host.step(f"fail2ban's {jail} jail bans {attacker}"):
        host.wait_banned(jail, attacker, last_failure=last_failure)
    with host.step(f"the next connection to {server}:{port} is refused or times out"):
        host.wait_blocked(server, [port])
    with host.step(f"so is every port the {jail} jail guards ({', '.join(map(str, ports_of(jail)))})"):
        host.wait_blocked(server, ports_of(jail))
    in_firewall_and_listed(host, jail, attacker)


def log_brute_force(host, jail, attacker, server):
    """Real-format failures appended to the jail's real log until banned: then the jail's ports are
    shut to the attacker and the firewall names it."""
    settings = SETTINGS.jail(jail)
    ports = ", ".join(map(str, settings.port))
    with host.step(f"before: the attacker reaches {server} on {jail}'s ports {ports}"):
        host.wait_open(server, settings.port)
    with host.step(f"{settings.maxretry} {jail} failures of {attacker} appended to {settings.logpath}"):
        host.append_failures(jail, loglines.failures(jail, attacker, settings.maxretry))
        last_failure = time.monotonic()
    with host.step(f"fail2ban's {jail} jail bans {attacker}"):
        host.wait_banned(jail, attacker, last_failure=last_failure)
    with host.step(f"connections from {attacker} to {server} port(s) {ports} are refused or time out"):
        host.wait_blocked(server, settings.port)
    in_firewall_and_listed(host, jail, attacker)


def in_firewall_and_listed(host, jail, attacker):
    with host.step(f"the firewall holds {attacker} in the {jail} jail's chain or ipset"):
        host.wait_in_firewall(attacker)
        rules = host.firewall_rules(attacker)
        # banaction iptables: the jail's ipsets where ipset is installed, else fail2ban's own chain.
        jail_rule = (f"-A f2b-{jail} ", f"add qf2b4-{jail} ", f"add qf2b6-{jail} ")
        assert any(rule.startswith(jail_rule) for rule in rules), f"no rule of the {jail} jail: {rules}"
        for rule in rules:
            host.say(f"    {rule}")
    with host.step(f"qmail-f2b bans lists {attacker} in {jail}"):
        listed, output = host.listed_by_qmail_f2b(jail, attacker)
        assert listed, f"qmail-f2b bans said: {output!r}"
        for line in output.splitlines():
            host.say(f"    {line}")


def one_alert(host, jail, attacker):
    """One mail for the ban, from the configured sender to the configured recipient, naming the
    jail and the address; whois fails without a network and the mail goes out all the same."""
    with host.step(f"an alert for banning {attacker} in {jail} reaches the SMTP sink"):
        host.wait_mail(jail, attacker)
    with host.step("exactly one, from the configured sender to the configured recipient"):
        mails = host.ban_mails(jail, attacker)
        assert len(mails) == 1, f"{len(mails)} alerts for one ban"
        mail = mails[0]
        assert (mail["mail_from"], mail["rcpt_to"]) == (SENDER, [DEST]), (mail["mail_from"], mail["rcpt_to"])
        message = email.message_from_string(mail["data"])
        assert message["From"] == f"Fail2Ban {jail} <{SENDER}>", message["From"]
        assert message["To"] == DEST, message["To"]
        body = message.get_payload()
        assert mentions(body, attacker) and f"against {jail}" in body, body
        host.say(f"    Subject: {message['Subject']}")
        host.say(f"    From: {message['From']}  To: {message['To']}")
    with host.step("whois fails without a network, and the alert went out all the same"):
        whois = host.run(f"whois {attacker}", check=False)
        assert whois.returncode != 0, whois.stdout
        assert "missing whois program" in body, body
        errors = [line for line in host.fail2ban_log().splitlines() if " ERROR " in line]
        assert not errors, "\n".join(errors)


def restart_keeps_the_ban(host, jail, attacker, server, ports):
    with host.step(f"{RC} restart"):
        host.rc("restart")
        host.wait_for_jails()
    with host.step(f"{attacker} is banned in {jail} again, from fail2ban's database"):
        host.wait_banned(jail, attacker)
        host.wait_in_firewall(attacker)
    shown = ", ".join(map(str, ports))
    with host.step(f"connections from {attacker} to {shown} are still refused or time out"):
        host.wait_blocked(server, ports)


def seconds_in(answer):
    """fail2ban-client's answer to `get dbpurgeage` (`15552000seconds`) or `get JAIL bantime`."""
    found = re.search(r"(\d+)(?:\.\d*)?\s*(?:seconds)?\s*$", answer)
    assert found, f"not a number of seconds: {answer!r}"
    return int(found.group(1))


def old_ban_comes_back(host, attacker, server, ports, age_days):
    """A manual ban made age_days old while fail2ban is stopped is restored at start."""
    with host.step(f"qmail-f2b ban {attacker}: a manual ban, in the {MANUAL_JAIL} jail"):
        host.qmail_f2b("ban", attacker)
        host.wait_banned(MANUAL_JAIL, attacker)
        host.wait_blocked(server, ports)
    with host.step(f"{RC} stop; the ban made {age_days} days old in fail2ban's database"):
        host.rc("stop")
        host.age_ban(MANUAL_JAIL, attacker, age_days)
    with host.step(f"{RC} start"):
        host.rc("start")
        host.wait_for_jails()
    with host.step(f"dbpurgeage covers the {MANUAL_JAIL} jail's bantime, past fail2ban's one-day default"):
        purge_age = seconds_in(host.run("fail2ban-client get dbpurgeage").stdout)
        bantime = seconds_in(host.run(f"fail2ban-client get {MANUAL_JAIL} bantime").stdout)
        assert purge_age >= bantime > age_days * 86400 > DEFAULT_PURGE_AGE_DAYS * 86400, (purge_age, bantime)
        host.say(f"    dbpurgeage {purge_age} s, bantime {bantime} s")
    with host.step(f"the {age_days}-day-old ban of {attacker} is back and blocks"):
        host.wait_banned(MANUAL_JAIL, attacker)
        age = host.ban_age_days(MANUAL_JAIL, attacker)
        assert age is not None and age > age_days - 1, f"the restored ban is {age} days old"
        host.wait_in_firewall(attacker)
        host.wait_blocked(server, ports)


def unban_lets_them_in(host, attackers_and_servers, ports):
    attackers = [attacker for attacker, _ in attackers_and_servers]
    with host.step(f"qmail-f2b unban {' '.join(attackers)}"):
        host.qmail_f2b("unban", *attackers)
    with host.step("no jail bans them and the firewall names none of them"):
        for attacker in attackers:
            assert not host.jails_banning(attacker), host.jails_banning(attacker)
            host.wait_not_in_firewall(attacker)
    with host.step(f"connections from the attacker to {', '.join(map(str, ports))} are answered again"):
        for _, server in attackers_and_servers:
            host.wait_open(server, ports)


def stop_clears_the_firewall(host, attacker, server, ports):
    with host.step(f"qmail-f2b ban {attacker}, so that there is a ban to take out"):
        host.qmail_f2b("ban", attacker)
        host.wait_blocked(server, ports)
    with host.step(f"{RC} stop"):
        host.rc("stop")
        assert host.run("pgrep -x fail2ban-server", check=False).returncode != 0, "fail2ban-server still runs"
    with host.step("the firewall holds no fail2ban chain and no rule naming the attacker"):
        assert "f2b-" not in host.firewall(), host.firewall()
        assert not host.firewall_rules(attacker), host.firewall_rules(attacker)
    with host.step(f"connections from the attacker to {', '.join(map(str, ports))} are answered"):
        host.wait_open(server, ports)


def verdicts(log):
    """{(jail, address): "ignored" or "counted"} as fail2ban's log tells, for the admin's addresses."""
    found = {}
    for jail, verdict, address in re.findall(r"\[([\w-]+)\] (Ignore|Found) (\S+)", log):
        if address in NEVER_BANNED:
            found.setdefault((jail, address), "ignored" if verdict == "Ignore" else "counted")
    return found


def never_the_admin(host, jails):
    """Failures naming the server's own addresses, loopback and ignoreip, in every jail's log: each
    jail reads them and ignores them, and none is ever banned."""
    with host.step(f"failures naming {', '.join(NEVER_BANNED)} appended to the logs of {', '.join(jails)}"):
        for jail in jails:
            count = SETTINGS.jail(jail).maxretry
            host.append_failures(jail, [line for address in NEVER_BANNED
                                        for line in loglines.failures(jail, address, count)])
    wanted = {(jail, address) for jail in jails for address in NEVER_BANNED}
    with host.step("every jail reads each of those failures"):
        wait_for("fail2ban logs Ignore or Found for every jail and address",
                 lambda: (set(verdicts(host.fail2ban_log())) >= wanted,
                          sorted(wanted - set(verdicts(host.fail2ban_log())))))
    with host.step("every jail ignores them all"):
        seen = verdicts(host.fail2ban_log())
        counted = sorted(f"{jail}: {address}" for (jail, address), verdict in seen.items()
                         if verdict == "counted" and jail in jails)
        assert not counted, f"counted as failures instead of ignored: {'; '.join(counted)}"
    with host.step("no jail bans any of them, and the firewall names none of them"):
        for address in NEVER_BANNED:
            assert not host.jails_banning(address), f"{address} banned in {host.jails_banning(address)}"
            assert not host.firewall_rules(address), host.firewall_rules(address)
