"""A ban through the life of the server: a POP3 brute force against the real Dovecot is banned,
survives a restart; a long manual ban survives a stop and start though it is older than
fail2ban's default one-day purge age; unbanning lets the attacker in again; stopping fail2ban
takes every rule out of the firewall.

The tests share one server and run in file order, each starting where the previous one ended.
"""

from tests.e2e import story
from tests.support.mailhost import ATTACKER_V4, ATTACKER_V6, SERVER_V4, SERVER_V6

# A manual ban covers every port; these stand for all of them.
SOME_PORTS = (25, 143, 110, 443)
AGE_DAYS = 30


def test_pop3_brute_force_is_banned(mailhost):
    story.dovecot_brute_force(mailhost, "pop3", ATTACKER_V4, SERVER_V4)


def test_restart_brings_the_ban_back(mailhost):
    story.restart_keeps_the_ban(mailhost, "dovecot", ATTACKER_V4, SERVER_V4, [110])


def test_a_ban_older_than_a_day_comes_back(mailhost):
    story.old_ban_comes_back(mailhost, ATTACKER_V6, SERVER_V6, SOME_PORTS, AGE_DAYS)
    with mailhost.step("and so is the dovecot ban of the POP3 brute force"):
        mailhost.wait_banned("dovecot", ATTACKER_V4)
        mailhost.wait_blocked(SERVER_V4, [110])


def test_unban_lets_the_attacker_in_again(mailhost):
    story.unban_lets_them_in(mailhost, [(ATTACKER_V4, SERVER_V4), (ATTACKER_V6, SERVER_V6)], SOME_PORTS)


def test_stop_takes_every_rule_out_of_the_firewall(mailhost):
    story.stop_clears_the_firewall(mailhost, ATTACKER_V4, SERVER_V4, SOME_PORTS)
