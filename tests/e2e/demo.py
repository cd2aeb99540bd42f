"""Watch qmail-fail2ban protect a mail server, step by step: python3 -m tests.e2e.demo

Builds a throwaway copy of this host (private namespaces, its writes vanish at the end), installs
fail2ban there with ./install --yes, starts real Dovecot and fail2ban, and attacks it from a
second network namespace: each step is printed as it happens, with what it showed. The same steps
as the end-to-end tests (tests/e2e/story.py). Needs root, like ./run-tests; touches nothing
outside the throwaway.
"""

import argparse
import sys

from tests.e2e import story
from tests.support.install import fixture_tarball
from tests.support.mailhost import (
    ATTACKER_V4,
    ATTACKER_V6,
    SERVER_V4,
    SERVER_V6,
    MailHost,
    Narrator,
    StepFailed,
    missing_parts,
)
from tests.support.throwaway import Throwaway

SOME_PORTS = (25, 143, 110, 443)


LOG_JAILS = ("qmail-smtp", "qmail-submission", "vpopmail", "qmailadmin", "roundcube", "dovecot")


def imap_over_ipv4(host):
    story.dovecot_brute_force(host, "imap", ATTACKER_V4, SERVER_V4)
    story.one_alert(host, "dovecot", ATTACKER_V4)


def imap_over_ipv6(host):
    story.dovecot_brute_force(host, "imap", ATTACKER_V6, SERVER_V6)
    story.one_alert(host, "dovecot", ATTACKER_V6)


def qmail_smtpd_log(host):
    story.log_brute_force(host, "qmail-smtp", ATTACKER_V4, SERVER_V4)
    story.one_alert(host, "qmail-smtp", ATTACKER_V4)


def restart(host):
    story.restart_keeps_the_ban(host, "dovecot", ATTACKER_V4, SERVER_V4, [143])


def old_ban(host):
    story.old_ban_comes_back(host, ATTACKER_V6, SERVER_V6, SOME_PORTS, 30)


def unban(host):
    story.unban_lets_them_in(host, [(ATTACKER_V4, SERVER_V4), (ATTACKER_V6, SERVER_V6)], SOME_PORTS)


def never_the_admin(host):
    story.never_the_admin(host, LOG_JAILS)


def stop(host):
    story.stop_clears_the_firewall(host, ATTACKER_V4, SERVER_V4, SOME_PORTS)


# In the order told; each starts where the one before ended.
CHAPTERS = (
    ("IMAP brute force over IPv4", imap_over_ipv4),
    ("IMAP brute force over IPv6", imap_over_ipv6),
    ("qmail-smtpd failures in its multilog file", qmail_smtpd_log),
    ("a restart keeps the bans", restart),
    ("a 30-day-old manual ban survives a stop and start", old_ban),
    ("unban", unban),
    ("never the admin", never_the_admin),
    ("stop", stop),
)


def main(argv):
    parser = argparse.ArgumentParser(prog="python3 -m tests.e2e.demo", description=__doc__.split("\n")[0])
    parser.add_argument("--tarball", help="the fail2ban release tarball to install"
                        " (default: the test tarball)")
    args = parser.parse_args(argv)
    missing = missing_parts()
    if missing:
        print(f"demo: the mail server needs: {'; '.join(missing)}", file=sys.stderr)
        return 1
    narrator = Narrator(sys.stdout)
    tarball = args.tarball or fixture_tarball()
    failed = []
    with Throwaway() as throwaway:
        host = MailHost(throwaway, narrator)
        print("== a mail server on a throwaway copy of this host, and an attacker next to it", flush=True)
        try:
            host.bring_up(tarball)
        except StepFailed as error:
            print(f"FAILED: {error}", flush=True)
            return 1
        for title, tell in CHAPTERS:
            print(f"\n== {title}", flush=True)
            try:
                tell(host)
            except StepFailed as error:
                print(f"FAILED: {error}", flush=True)
                failed.append(title)
    print(f"\n{len(CHAPTERS) - len(failed)} of {len(CHAPTERS)} held"
          + (f"; failed: {', '.join(failed)}" if failed else ""), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
