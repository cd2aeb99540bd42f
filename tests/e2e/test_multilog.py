"""qmail-smtpd's log as multilog really writes it: a real multilog (daemontools) fed through a pipe,
stamping each line (TAI64N, "t") and rotating "current" at a small size ("s4096"), the way
supervise/qmail-smtpd/log/run runs it.

- The attack on qmail-smtp is spread over a rotation: fail2ban follows multilog's rename of
  "current" and bans the attacker at exactly maxretry failures, not one earlier.
- sagredo's qmail-smtpd logs a failed SMTP AUTH on submission (587) as a qlogenvelope line;
  maxretry of them ban the attacker in the qmail-submission jail and shut port 587 to it. The
  attacker's HELO and AUTH user, written raw in an SMTPUTF8 session, name the admin's address in
  a planted tail; the admin is never banned.

(fail2ban logs "Unable to open .../current" when it looks in the instant between multilog's rename
of current and the new one; it reads the new file all the same. So these tests do not require a
fail2ban.log free of errors, as the other end-to-end tests do.)
"""

import shlex
import time
from pathlib import Path

import pytest

from tests.support.mailhost import (
    ADMIN,
    ATTACKER_V4,
    ATTACKER_V6,
    SERVER_V4,
    SERVER_V6,
    SETTINGS,
    StepFailed,
    mentions,
    wait_for,
)

MULTILOG = "/usr/bin/multilog"
SIZE = 4096  # multilog's smallest "s": current is rotated once a line would take it past this
# multilog's own file names in its log folder: current, and each rotated file as @TAI64N.s
ROTATED = "@4*.s"

pytestmark = pytest.mark.skipif(not Path(MULTILOG).exists(),
                                reason="needs multilog (apt-get install daemontools; ./run-tests does)")


def feed_path(jail):
    return f"/run/e2e-multilog-{jail}.fifo"


def start_multilog(host, jail):
    """multilog t sSIZE n20 on the jail's log folder (once per server), reading a FIFO held open by a
    sleeping writer (as supervise holds qmail-smtpd's pipe), so that each write below is one more
    line for it. As on a real host, multilog runs before fail2ban starts: fail2ban is restarted
    once multilog has written a first line. (fail2ban 1.0 and 1.1 do not take the new inode of a
    file replaced while it was empty, so a log service restarted under a running fail2ban gets
    its next lines read twice, once as a rotation; not what is tested here.)"""
    folder = str(Path(SETTINGS.jail(jail).logpath).parent)
    fifo = feed_path(jail)
    if host.file_exists(fifo)[0]:
        return folder
    host.run(f"mkdir -p {shlex.quote(folder)} && mkfifo {fifo}")
    host.daemon(f"sh -c {shlex.quote(f'exec {MULTILOG} t s{SIZE} n20 {folder} < {fifo}')}",
                f"/var/log/e2e-multilog-{jail}.log")
    host.daemon(f"sh -c {shlex.quote(f'exec sleep 100000 > {fifo}')}", "/dev/null")
    first = "tcpserver: status: 0/100"
    log_lines(host, jail, [first])
    wait_logged(host, folder, first)
    host.rc("restart")
    host.wait_for_jails()
    return folder


def log_lines(host, jail, lines):
    """Lines handed to the jail's multilog, as qmail-smtpd writes them to its stderr."""
    host.write(feed_path(jail), "".join(line + "\n" for line in lines), mode="a")


def logged(host, folder, text):
    """The files of multilog's folder that hold text ("current" or a rotated @....s)."""
    found = host.run(f"cd {shlex.quote(folder)} && grep -lF -- {shlex.quote(text)} current {ROTATED}", check=False)
    return found.stdout.split()


def wait_logged(host, folder, text):
    return wait_for(f"multilog wrote {text!r}", lambda: (bool(logged(host, folder, text)), "not yet"))


def failed_count(host, jail):
    status = host.run(f"fail2ban-client status {jail}").stdout
    return int(status.split("Total failed:")[1].split()[0])


def qlogenvelope(attacker, helo="laptop", authuser="info@example.org", pid=4711):
    return (f"qlogenvelope: result=rejected code=535 reason=authfailed detail= helo={helo} mailfrom= rcptto="
            f" relay=no rcpthosts= size= authuser={authuser} authtype=login encrypted=tls sslverified=no"
            f" localip={SERVER_V4} localport=587 remoteip={attacker} remoteport={40000 + pid % 1000}"
            f" remotehost= qp= pid={pid}")


@pytest.fixture
def unbanned_after(mailhost):
    yield
    for attacker in (ATTACKER_V4, ATTACKER_V6):
        if mailhost.jails_banning(attacker):
            mailhost.qmail_f2b("unban", attacker)


@pytest.mark.parametrize("attacker, server", [(ATTACKER_V4, SERVER_V4), (ATTACKER_V6, SERVER_V6)],
                         ids=["ipv4", "ipv6"])
def test_a_rotation_in_the_middle_of_the_attack_bans_at_exactly_maxretry(mailhost, unbanned_after,
                                                                          attacker, server):
    jail = "qmail-smtp"
    settings = SETTINGS.jail(jail)
    with mailhost.step(f"multilog t s{SIZE} writes {settings.logpath}"):
        folder = start_multilog(mailhost, jail)
    before = failed_count(mailhost, jail)
    failures = [f"qmail-smtpd[{4000 + n}]: GREETDELAY from {attacker}: client sent data before greeting"
                for n in range(settings.maxretry)]
    # a realistic line of the same service, about 120 bytes: enough of them to rotate current
    run = int(time.time() * 1000) % 10**9  # this run's lines are its own: the ipv4 run's are in the log too
    filler = [f"tcpserver: ok {run}.{n} mail.example.org:{SERVER_V4}:25 mx{n}.example.net:198.51.100.{n % 250 + 1}"
              f"::{40000 + n} status: {n % 40}/100" for n in range(2 * SIZE // 100)]
    with mailhost.step(f"{settings.maxretry - 1} of {settings.maxretry} failures of {attacker}, each counted by"
                       f" {jail}, then enough normal traffic for multilog to rotate current"):
        mailhost.wait_open(server, settings.port)
        for count, line in enumerate(failures[:-1], 1):
            log_lines(mailhost, jail, [line])
            wait_for(f"{jail} counts failure {count} of {attacker}",
                     lambda count=count: (failed_count(mailhost, jail) - before >= count,
                              f"{failed_count(mailhost, jail) - before} counted"))
        log_lines(mailhost, jail, filler)
        wait_logged(mailhost, folder, filler[-1])
        rotated = [name for line in failures[:-1] for name in logged(mailhost, folder, line)]
        if not rotated or "current" in rotated:
            raise StepFailed(f"the first failures should be in a rotated file by now, they are in {rotated}: "
                             + mailhost.run(f"ls -la {folder}", check=False).stdout)
    with mailhost.step(f"after the rotation fail2ban still counts {settings.maxretry - 1}"
                       f" and has not banned {attacker}"):
        time.sleep(2)  # fail2ban has seen the rename and read the new current; no ban may follow
        assert failed_count(mailhost, jail) - before == settings.maxretry - 1, "\n".join(
            mentions(mailhost.fail2ban_log(), attacker) + [mailhost.run(f"ls -la {folder}").stdout])
        assert attacker not in mailhost.banned(jail), f"{attacker} banned before maxretry"
    with mailhost.step(f"the last failure, into the new current: {attacker} is banned"):
        log_lines(mailhost, jail, failures[-1:])
        last = time.monotonic()
        wait_logged(mailhost, folder, failures[-1])
        assert logged(mailhost, folder, failures[-1]) == ["current"]
        mailhost.wait_banned(jail, attacker, last_failure=last)
        mailhost.wait_blocked(server, settings.port)
        assert failed_count(mailhost, jail) - before == settings.maxretry


def test_qlogenvelope_authfailed_on_submission_bans_the_attacker_never_the_planted_admin(mailhost, unbanned_after):
    jail = "qmail-submission"
    settings = SETTINGS.jail(jail)
    planted = f" remoteip={ADMIN} remoteport=1 remotehost= qp= pid=1"
    with mailhost.step(f"multilog t s{SIZE} writes {settings.logpath}"):
        folder = start_multilog(mailhost, jail)
    with mailhost.step(f"before: the attacker reaches {SERVER_V4} on 587"):
        mailhost.wait_open(SERVER_V4, settings.port)
    lines = [qlogenvelope(ATTACKER_V4, helo="x" + planted, authuser="u" + planted, pid=4700 + n)
             for n in range(settings.maxretry)]
    with mailhost.step(f"{settings.maxretry} SMTP AUTH failures of {ATTACKER_V4} on 587, logged by"
                       f" qlogenvelope with {ADMIN} planted in HELO and AUTH user"):
        log_lines(mailhost, jail, lines)
        last = time.monotonic()
        wait_logged(mailhost, folder, lines[-1])
    with mailhost.step(f"{jail} bans {ATTACKER_V4} and shuts port 587 to it"):
        mailhost.wait_banned(jail, ATTACKER_V4, last_failure=last)
        mailhost.wait_blocked(SERVER_V4, settings.port)
    with mailhost.step(f"{ADMIN} is banned nowhere"):
        assert mailhost.jails_banning(ADMIN) == []
    with mailhost.step(f"one alert for banning {ATTACKER_V4} in {jail}"):
        mailhost.wait_mail(jail, ATTACKER_V4)
        assert len(mailhost.ban_mails(jail, ATTACKER_V4)) == 1
