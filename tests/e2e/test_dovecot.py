"""A brute force against the real Dovecot, from the attacker's namespace, over IPv4 and IPv6:
fail2ban bans it in the firewall, qmail-f2b lists it, and one alert per ban reaches the
recipient site.conf names, though whois cannot work without a network.

POP3 is brute-forced in test_lifecycle.py, whose server then restarts with the ban.
"""

import pytest

from tests.e2e import story
from tests.support.mailhost import ATTACKER_V4, ATTACKER_V6, SERVER_V4, SERVER_V6

FAMILIES = {"ipv4": (ATTACKER_V4, SERVER_V4), "ipv6": (ATTACKER_V6, SERVER_V6)}


@pytest.mark.parametrize("family", FAMILIES)
def test_imap_brute_force_is_banned_in_the_firewall(mailhost, family):
    story.dovecot_brute_force(mailhost, "imap", *FAMILIES[family])


@pytest.mark.parametrize("family", FAMILIES)
def test_one_alert_per_ban_from_the_configured_sender_to_the_configured_recipient(mailhost, family):
    attacker, _ = FAMILIES[family]
    if "dovecot" not in mailhost.jails_banning(attacker):
        pytest.skip(f"{attacker} was not banned: see test_imap_brute_force_is_banned_in_the_firewall")
    story.one_alert(mailhost, "dovecot", attacker)
