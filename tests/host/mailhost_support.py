"""What the qmail-f2b host tests share: a throwaway mail host with qmail-fail2ban installed and
fail2ban running, and failures written the way the services write them."""

import contextlib

from tests.conftest import install_on
from tests.throwaway import Throwaway

TOOL = "/usr/sbin/qmail-f2b"
RC = "/etc/rc.d/rc.fail2ban"
DOVECOT_LOG = "/var/log/dovecot/dovecot.log"
# The folders the mail services log to on a real host: with them every jail of the installer is enabled.
LOG_FOLDERS = ("/var/log/dovecot", "/var/log/qmail/smtpd", "/var/log/qmail/submission",
               "/var/www/htdocs/roundcube/logs")


@contextlib.contextmanager
def running_mail_host(tarball):
    with Throwaway() as host:
        host.run(f"mkdir -p {' '.join(LOG_FOLDERS)}", check=True)
        install_on(host, tarball, "--yes", "--quiet")
        host.run(f"{RC} start", check=True, timeout=90)
        yield host


def dovecot_failures(host, address, count):
    """Failed IMAP logins as Dovecot writes them to its own log file, stamped now."""
    failure = ("imap-login: Info: Disconnected (auth failed, 1 attempts in 2 secs): user=<admin$i>, method=PLAIN,"
               f" rip={address}, lip=192.0.2.1, TLS, session=<Yq2x$i>")
    host.run(f"""stamp=$(LC_ALL=C date '+%b %d %H:%M:%S')
for i in $(seq {count}); do echo "$stamp {failure}"; done >> {DOVECOT_LOG}""", check=True)
