"""The jails of the services that cannot run here (qmail-smtpd on 25 and 587, vpopmail, qmailadmin,
Roundcube): real-format failure lines appended to each jail's real log file get the attacker
banned in the firewall, its traffic to that jail's ports blocked, and one alert sent. Then the
admin: the server's own addresses, loopback and ignoreip are never banned, even with failures
naming them in every jail's log (Dovecot's too).
"""

import pytest

from tests.e2e import story
from tests.support.mailhost import ATTACKER_V4, ATTACKER_V6, SERVER_V4, SERVER_V6

LOG_JAILS = ("qmail-smtp", "qmail-submission", "vpopmail", "qmailadmin", "roundcube")
FAMILIES = {"ipv4": (ATTACKER_V4, SERVER_V4), "ipv6": (ATTACKER_V6, SERVER_V6)}
EVERY_PORT = sorted({port for jail in LOG_JAILS for port in story.ports_of(jail)})


@pytest.fixture
def unbanned_after(mailhost):
    """Each case starts from no ban: the attacker is unbanned with qmail-f2b, and let in again."""
    yield
    for attacker, server in FAMILIES.values():
        if mailhost.jails_banning(attacker):
            mailhost.qmail_f2b("unban", attacker)
        mailhost.wait_open(server, EVERY_PORT)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("jail", LOG_JAILS)
def test_failures_in_the_log_ban_the_attacker_from_the_jails_ports(mailhost, unbanned_after, jail, family):
    attacker, server = FAMILIES[family]
    story.log_brute_force(mailhost, jail, attacker, server)
    story.one_alert(mailhost, jail, attacker)


def test_never_the_admin(mailhost):
    story.never_the_admin(mailhost, LOG_JAILS + ("dovecot",))
