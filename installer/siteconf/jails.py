"""The jails qmail-fail2ban sets up: the one table the spec, site.conf's comments and jail.local
are made from. Adding a jail is one entry here (and its filter in filter.d/).

The values are the tutorial's: what a qmail host's admin expects to find.
"""

from dataclasses import dataclass
from typing import Optional

from installer.shared.paths import FAIL2BAN_LOG


@dataclass(frozen=True)
class JailDefinition:
    name: str
    filter: str                      # the filter.d/ file it matches with, without .conf/.local
    note: str                        # what it protects: the comment above it in site.conf and jail.local
    logpath: Optional[str]           # the log it reads; None: none (the manual-ban jail)
    ports: tuple                     # port numbers banned; () bans every port
    bantime: Optional[str]           # None here and below: the value in site.conf's [defaults]
    maxretry: Optional[int] = None
    findtime: Optional[str] = None
    enabled: bool = True

    @property
    def reads_log(self):
        return self.logpath is not None


JAILS = (
    JailDefinition("qmail-smtp", "qmail-smtp", "SMTP on port 25 (qmail-smtpd, logged by multilog)",
                   "/var/log/qmail/smtpd/current", (25,), "86400", maxretry=2, findtime="3600"),
    JailDefinition("qmail-submission", "qmail-smtp",
                   "submission on port 587 (qmail-smtpd, read with the qmail-smtp filter)",
                   "/var/log/qmail/submission/current", (587,), "86400", maxretry=2, findtime="3600"),
    JailDefinition("vpopmail", "vpopmail", "vchkpw password failures, on every port it serves (through syslog)",
                   "/var/log/maillog", (25, 465, 587, 110, 995, 143, 993), None, maxretry=5),
    JailDefinition("qmailadmin", "qmailadmin", "qmailadmin logins (its auth-log patch)",
                   "/var/log/qma-auth.log", (80, 443), None, maxretry=4),
    JailDefinition("roundcube", "roundcube-auth",
                   "Roundcube webmail logins (logs/userlogins; Slackware serves /var/www/htdocs)",
                   "/var/www/htdocs/roundcube/logs/userlogins", (80, 443), None, maxretry=4),
    JailDefinition("dovecot", "dovecot", "IMAP and POP3 logins (Dovecot's own log file)",
                   "/var/log/dovecot/dovecot.log", (143, 993, 110, 995), "3600", maxretry=6),
    # No log and a filter that never matches: only `qmail-f2b ban` (fail2ban-client set custom
    # banip) puts addresses in it.
    JailDefinition("custom", "qmail-f2b-manual", "manual bans with qmail-f2b ban: reads no log, bans for long",
                   None, (), "180d"),
    JailDefinition("recidive", "recidive", "longer bans for addresses banned again and again (fail2ban's own log)",
                   FAIL2BAN_LOG, (), "4w", maxretry=5, findtime="1w", enabled=False),
)

# The jail `qmail-f2b ban` puts addresses in.
MANUAL_JAIL = "custom"


def definition(name):
    return next(jail for jail in JAILS if jail.name == name)
