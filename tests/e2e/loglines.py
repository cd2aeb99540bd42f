"""Failure lines in the real formats of the services that cannot run here (no qmail, vpopmail,
qmailadmin or Roundcube on this machine), to append to each jail's real log file.

Each maker takes the client's address and the time, and returns one line as the service writes it.
"""

import time

# multilog's stamp: TAI64 (2^62 + 10 + Unix seconds, the 10 being TAI-UTC in 1970) and nanoseconds.
TAI64_BASE = 2 ** 62 + 10


def tai64n(when):
    seconds = int(when)
    return f"@{TAI64_BASE + seconds:016x}{int((when - seconds) * 1e9):08x}"


def syslog_stamp(when):
    return time.strftime("%b %d %H:%M:%S", time.localtime(when))


def qmail_smtpd(address, when):
    return (f"{tai64n(when)} qmail-smtpd: read failed: (null) from {address} to (null)"
            " helo (null)")


def qmail_submission(address, when):
    return (f"{tai64n(when)} CHKUSER rejected relaying: from <spam@example.net|remoteinfo/auth:"
            f"|chkuser-identify:> remote <helo:mx.example.net|remotehostname:unknown|remotehostip:"
            f"{address}> rcpt <victim@example.org> : client not allowed to relay")


def vpopmail(address, when):
    return (f"{syslog_stamp(when)} mail vpopmail[4711]: vchkpw-submission: password fail"
            f" postmaster@example.com:{address}")


def qmailadmin(address, when):
    return (f"{time.strftime('%Y/%m/%d %H:%M:%S', time.localtime(when))} user:postmaster@example.com"
            f" ip:{address} auth:failed [@example.com]")


def roundcube(address, when):
    stamp = time.strftime("%d-%b-%Y %H:%M:%S %z", time.localtime(when))
    return (f"[{stamp}]: <k3m9x2pa> Failed login for alice@example.com from {address}"
            " in session k3m9x2pa7c1d0e4f (error: 0)")


def dovecot(address, when):
    # Dovecot's own log file (log_path), as the real one in these tests writes it.
    return (f"{syslog_stamp(when)} imap-login: Info: Disconnected: Connection closed (auth failed,"
            f" 1 attempts in 2 secs): user=<alice@example.com>, method=PLAIN, rip={address},"
            " lip=203.0.113.1, session=<Hw/i7tJgotN/AAAB>")


MAKERS = {
    "qmail-smtp": qmail_smtpd,
    "qmail-submission": qmail_submission,
    "vpopmail": vpopmail,
    "qmailadmin": qmailadmin,
    "roundcube": roundcube,
    "dovecot": dovecot,
}


def failures(jail, address, count, when=None):
    """count failure lines of jail's service naming address."""
    when = time.time() if when is None else when
    return [MAKERS[jail](address, when) for _ in range(count)]
