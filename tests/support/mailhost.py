"""Mail hosts on throwaway copies of this host.

`running_mail_host`: qmail-fail2ban installed with every jail enabled and fail2ban running, for
the qmail-f2b tests and the benchmarks (failures are written into the logs as the services write
them). `MailHost`: a whole mail server under attack, built from real parts, which the end-to-end
tests and the demo drive:

The throwaway's own namespaces are the server (203.0.113.1, 2001:db8::1): ./install --yes runs
there for real, fail2ban runs from /etc/rc.d/rc.fail2ban, Dovecot serves IMAP and POP3 with a
passwd-file user, and /usr/sbin/sendmail (msmtp) hands alerts to an SMTP sink on loopback. The
attacker (203.0.113.66, 2001:db8::66) is a second network namespace made inside it, joined by a
veth pair; it goes with the throwaway. Only documentation addresses, and no route anywhere else.

Every wait is bounded (WAIT seconds) and a failure names the step that did not happen.
"""

import contextlib
import email
import json
import re
import shlex
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from installer.siteconf import settings as site_settings
from installer.siteconf.jails import JAILS
from tests.support.install import REPO, install_on
from tests.support.throwaway import Throwaway

# The programs and files the end-to-end server runs (inside the throwaway) beside this module's code.
E2E = REPO / "tests" / "e2e"
CLIENT = E2E / "client.py"
SINK = E2E / "smtp_sink.py"

TOOL = "/usr/sbin/qmail-f2b"
DOVECOT_LOG = "/var/log/dovecot/dovecot.log"
# The folders the mail services log to on a real host: with them every jail of the installer is enabled.
LOG_FOLDERS = ("/var/log/dovecot", "/var/log/qmail/smtpd", "/var/log/qmail/submission",
               "/var/www/htdocs/roundcube/logs")

SERVER_V4, SERVER_V6 = "203.0.113.1", "2001:db8::1"
ATTACKER_V4, ATTACKER_V6 = "203.0.113.66", "2001:db8::66"
# The admin's office network, in site.conf's ignoreip.
ADMIN_NET, ADMIN = "198.51.100.0/24", "198.51.100.7"

DEST, SENDER = "postmaster@example.com", "fail2ban@mail.example.com"
USER, PASSWORD = "alice@example.com", "correct-horse-battery"

SITE_CONF = f"""\
[alerts]
dest = {DEST}
sender = {SENDER}

[defaults]
ignoreip = {ADMIN_NET}
"""
SETTINGS = site_settings.parse(SITE_CONF, "the end-to-end site.conf")

RC = "/etc/rc.d/rc.fail2ban"
FAIL2BAN_LOG = "/var/log/fail2ban.log"
DATABASE = "/var/lib/fail2ban/fail2ban.sqlite3"
SPOOL = "/var/spool/e2e-sink"
# Served by the SMTP sink, standing in for qmail (25, 465, 587), the web server (80, 443) and
# Dovecot's TLS ports (993, 995), so that a blocked port differs from a closed one.
STAND_IN_PORTS = (25, 465, 587, 80, 443, 993, 995)
DOVECOT_PORTS = (143, 110)

WAIT = 20

MSMTPRC = """\
# sendmail (msmtp) on the throwaway mail server: every message goes to the SMTP sink on loopback.
defaults
syslog off
logfile /var/log/msmtp.log
account default
host 127.0.0.1
port 25
auth off
tls off
from root@localhost
"""

NETWORK = f"""\
set -e
ip netns add attacker
ip link add mail0 type veth peer name attack0
ip link set attack0 netns attacker
ip addr add {SERVER_V4}/24 dev mail0
ip addr add {SERVER_V6}/64 dev mail0 nodad
ip link set mail0 up
ip -n attacker link set lo up
ip -n attacker addr add {ATTACKER_V4}/24 dev attack0
ip -n attacker addr add {ATTACKER_V6}/64 dev attack0 nodad
ip -n attacker link set attack0 up
"""

# Ages a ban in fail2ban's database, as if it had been given `days` ago; run with the server stopped.
AGE_BAN = """\
import sqlite3, sys
path, jail, ip, days = sys.argv[1:]
db = sqlite3.connect(path)
for table in ("bans", "bips"):
    db.execute(f"UPDATE {table} SET timeofban = timeofban - ? WHERE jail = ? AND ip = ?",
               (int(float(days) * 86400), jail, ip))
db.commit()
print(db.execute("SELECT count(*) FROM bips WHERE jail = ? AND ip = ?", (jail, ip)).fetchone()[0])
"""

MAILS = """\
import json, pathlib, sys
print(json.dumps([json.loads(p.read_text()) for p in sorted(pathlib.Path(sys.argv[1]).glob("*.json"))]))
"""


# What the server needs from the distribution: path -> the Debian packages that provide it.
PARTS = {
    "/usr/sbin/dovecot": "dovecot-imapd dovecot-pop3d",
    "/usr/lib/dovecot/imap-login": "dovecot-imapd",
    "/usr/lib/dovecot/pop3-login": "dovecot-pop3d",
    "/usr/bin/msmtp": "msmtp-mta",
    "/usr/bin/whois": "whois",
}


@contextlib.contextmanager
def installed_mail_host(tarball, *install_options, start=True):
    """A throwaway host with every service's log folder, qmail-fail2ban installed for real and (with
    start) fail2ban started."""
    with Throwaway() as host:
        host.run(f"mkdir -p {' '.join(LOG_FOLDERS)}", check=True)
        install_on(host, tarball, "--yes", "--quiet", *install_options)
        if start:
            host.run(f"{RC} start", check=True, timeout=90)
        yield host


# What the tests of an installed mail host may add beside the installed files: the admin's overrides,
# the copies rc.fail2ban makes of them, and settings a test tries.
ADDED_SETTINGS = ("/etc/qmail-fail2ban/fail2ban-jail.cf", "/etc/qmail-fail2ban/fail2ban-fail2ban.cf",
                  "/etc/fail2ban/jail.d/user-jail.local", "/etc/fail2ban/fail2ban.local",
                  "/etc/fail2ban/jail.d/zz-test.local", "/etc/fail2ban/fail2ban.d/zz-test.local")


# Where back_as_installed keeps the logs it replaces, so that no new log can get an old one's inode.
RETIRED_LOGS = "/var/lib/qf2b-tests/retired-logs"


def back_as_installed(host):
    """Put an installed mail host back as it was just after installed_mail_host: no added settings,
    empty jail logs, fail2ban running, nothing banned. Tests that share a host start from here, so
    that none depends on what the one before it did.

    Each log is rotated (a new, empty file), not truncated: fail2ban takes a log that is truncated and
    written again to its old size before it looks for the one it had read up to its end, and reads
    none of the new lines. A new inode is a rotation whatever fail2ban saw in between. The log of a
    running Dovecot (the end-to-end server) is emptied in place instead: Dovecot keeps writing to the
    file it opened, and its lines are never the same length twice."""
    logs = " ".join(jail.logpath for jail in JAILS if jail.reads_log and jail.enabled)
    host.run(f"""changed=
for file in {' '.join(ADDED_SETTINGS)}; do
    if [ -e "$file" ]; then rm -f "$file"; changed=yes; fi
done
mkdir -p {RETIRED_LOGS}
for log in {logs}; do
    [ -e "$log" ] || continue
    # A running Dovecot goes on writing to the file it opened: its log is emptied in place.
    if [ "$log" = {DOVECOT_LOG} ] && pgrep -x dovecot >/dev/null; then : > "$log"; continue; fi
    retired=$(mktemp -u {RETIRED_LOGS}/log.XXXXXXXX)
    mv "$log" "$retired" && : > "$log" && chown --reference="$retired" "$log" && chmod --reference="$retired" "$log"
done
if ! fail2ban-client ping >/dev/null 2>&1; then {RC} start >/dev/null
elif [ -n "$changed" ]; then {RC} restart >/dev/null
fi
fail2ban-client unban --all >/dev/null""", check=True, timeout=120)


def dovecot_failures(host, address, count):
    """Failed IMAP logins as Dovecot writes them to its own log file, stamped now, each call with session
    ids of its own, as Dovecot's are."""
    session = f"{time.monotonic_ns():x}"
    failure = ("imap-login: Info: Disconnected (auth failed, 1 attempts in 2 secs): user=<admin$i>, method=PLAIN,"
               f" rip={address}, lip=192.0.2.1, TLS, session=<{session}x$i>")
    host.run(f"""stamp=$(LC_ALL=C date '+%b %d %H:%M:%S')
for i in $(seq {count}); do echo "$stamp {failure}"; done >> {DOVECOT_LOG}""", check=True)


def missing_parts():
    """One line per part of the mail server this machine lacks (none: all there)."""
    missing = [f"{path} (apt-get install {packages})" for path, packages in PARTS.items()
               if not Path(path).exists()]
    if Path("/usr/bin/msmtp").exists() and Path("/usr/sbin/sendmail").resolve() != Path("/usr/bin/msmtp"):
        missing.append("/usr/sbin/sendmail is not msmtp's (apt-get install msmtp-mta)")
    return missing


class StepFailed(AssertionError):
    """A step of the story did not happen; the message says which, and what was seen instead."""


class Narrator:
    """Prints each step as it happens, with the seconds since the start (captured by pytest,
    shown with a failing test; printed live by the demo)."""

    def __init__(self, out=None):
        self.out = out
        self.start = time.monotonic()

    def say(self, text):
        # sys.stdout as it is now: pytest swaps it for each test.
        print(f"[{time.monotonic() - self.start:6.1f}s] {text}", file=self.out or sys.stdout, flush=True)


def wait_for(step, probe, seconds=WAIT, interval=0.25):
    """probe() -> (done, what is seen) until done; StepFailed naming step after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        done, seen = probe()
        if done:
            return seen
        if time.monotonic() >= deadline:
            raise StepFailed(f"{step}: did not happen within {seconds} s; last seen: {seen}")
        time.sleep(interval)


def mentions(text, address):
    """The lines of text that name address (203.0.113.6 is not 203.0.113.66)."""
    pattern = re.compile(rf"(?<![\w:.]){re.escape(address)}(?![\w:.])")
    return [line.strip() for line in text.splitlines() if pattern.search(line)]


class MailHost:
    def __init__(self, throwaway, narrator=None):
        self.host = throwaway
        self.narrator = narrator or Narrator()

    def say(self, text):
        self.narrator.say(text)

    @contextmanager
    def step(self, text):
        """Narrates a step; a failure inside names it."""
        self.say(text)
        started = time.monotonic()
        try:
            yield
        except StepFailed:
            raise
        except AssertionError as error:
            raise StepFailed(f"{text}: {error}") from None
        self.say(f"  done ({time.monotonic() - started:.1f} s)")

    # ---- running things ---------------------------------------------------------------------

    def run(self, script, timeout=60, check=True):
        result = self.host.run(script, timeout=timeout)
        if check and result.returncode != 0:
            raise StepFailed(f"{script.strip()!r} exited {result.returncode}:"
                             f" {(result.stderr or result.stdout).strip()}")
        return result

    def write(self, path, text, mode="w"):
        """Writes (mode w) or appends (mode a) text to a file of the server."""
        operator = ">" if mode == "w" else ">>"
        self.run(f"mkdir -p {shlex.quote(str(Path(path).parent))} && cat {operator} {shlex.quote(path)}"
                 f" <<'END_OF_TEXT'\n{text}END_OF_TEXT\n")

    def daemon(self, command, log):
        """Starts command in the background on the server; it dies with the throwaway."""
        self.run(f"setsid -f {command} </dev/null >{log} 2>&1")

    def from_attacker(self, *args, timeout=60):
        """client.py in the attacker's namespace."""
        return self.run(f"ip netns exec attacker {shlex.join([sys.executable, str(CLIENT), *args])}",
                        timeout=timeout).stdout

    def from_server(self, *args, timeout=60):
        """client.py in the server's own namespace."""
        return self.run(shlex.join([sys.executable, str(CLIENT), *args]), timeout=timeout).stdout

    # ---- building the server ------------------------------------------------------------------

    def bring_up(self, tarball):
        """Everything up to a running fail2ban: the mail host first, as an admin would have it."""
        with self.step(f"network: server {SERVER_V4} {SERVER_V6}, attacker {ATTACKER_V4} {ATTACKER_V6},"
                       " on a veth pair"):
            self.run(NETWORK)
        with self.step("SMTP sink on loopback port 25 behind msmtp's /usr/sbin/sendmail, stand-ins on"
                       f" ports {', '.join(map(str, STAND_IN_PORTS))}"):
            self.start_sink()
        with self.step("Dovecot with a passwd-file user, logging to /var/log/dovecot/dovecot.log"):
            self.start_dovecot()
        with self.step("the other services' log folders (qmail's multilog, vpopmail's syslog, qmailadmin,"
                       " Roundcube)"):
            self.make_log_folders()
        with self.step("./install --config site.conf --yes, for real"):
            self.install(tarball)
        with self.step(f"{RC} start"):
            self.rc("start")
            self.wait_for_jails()

    def start_sink(self):
        self.write("/etc/msmtprc", MSMTPRC)
        ports = " ".join(map(str, STAND_IN_PORTS))
        self.daemon(f"{sys.executable} {SINK} {SPOOL} {ports}", "/var/log/e2e-sink.log")
        wait_for("the SMTP sink listens", lambda: self.file_exists(f"{SPOOL}/pid"))

    def start_dovecot(self):
        self.write("/etc/dovecot/dovecot.conf", (E2E / "dovecot.conf").read_text())
        self.write("/etc/dovecot/users", f"{USER}:{{PLAIN}}{PASSWORD}:65534:65534::/var/vmail/alice::\n")
        self.run("mkdir -p /var/log/dovecot /var/vmail/alice && chown 65534:65534 /var/vmail/alice"
                 " && dovecot -c /etc/dovecot/dovecot.conf </dev/null >/dev/null 2>&1")
        wait_for("Dovecot answers on 143 and 110", lambda: self.server_ports_open(DOVECOT_PORTS))

    def make_log_folders(self):
        folders = {str(Path(jail.logpath).parent) for jail in SETTINGS.jails if jail.enabled and jail.logpath}
        self.run(f"mkdir -p {' '.join(sorted(folders))}")

    def install(self, tarball):
        self.write("/root/e2e-site.conf", SITE_CONF)
        install_on(self.host, tarball, "--config", "/root/e2e-site.conf", "--yes", "--quiet")

    def rc(self, verb):
        return self.run(f"{RC} {verb}", timeout=120)

    def wait_for_jails(self):
        wanted = sorted(jail.name for jail in SETTINGS.jails if jail.enabled)
        wait_for(f"fail2ban runs the jails {', '.join(wanted)}",
                 lambda: self._running_jails(wanted))

    def _running_jails(self, wanted):
        status = self.run("fail2ban-client status", check=False).stdout
        found = re.search(r"Jail list:\s*(.*)$", status, re.M)
        running = sorted(name.strip() for name in found.group(1).split(",")) if found else []
        return running == wanted, f"running jails {running}"

    # ---- looking ---------------------------------------------------------------------------

    def file_exists(self, path):
        exists = self.run(f"test -e {shlex.quote(path)}", check=False).returncode == 0
        return exists, f"{path} {'exists' if exists else 'is missing'}"

    def server_ports_open(self, ports):
        states = self.probe(SERVER_V4, ports, side="server")
        return all(state == "open" for state in states.values()), states

    def probe(self, address, ports, side="attacker"):
        """{port: open|refused|timeout|error...} for TCP connections to address from side."""
        run = self.from_attacker if side == "attacker" else self.from_server
        lines = run("probe", address, *map(str, ports)).splitlines()
        return {int(port): state for port, state in (line.split(" ", 1) for line in lines)}

    def firewall(self):
        """The whole firewall as the kernel has it: iptables-save, ip6tables-save, nft list ruleset, ipset save."""
        return self.run("iptables-save; ip6tables-save; nft list ruleset; ipset save", check=False).stdout

    def firewall_rules(self, address):
        return mentions(self.firewall(), address)

    def banned(self, jail):
        status = self.run(f"fail2ban-client status {jail}", check=False).stdout
        found = re.search(r"Banned IP list:\s*(.*)$", status, re.M)
        return found.group(1).split() if found else []

    def ban_age_days(self, jail, address):
        """How long ago fail2ban says it banned address in jail, in days (None: not banned)."""
        listing = self.run(f"fail2ban-client get {jail} banip --with-time").stdout
        for line in listing.splitlines():
            found = re.match(rf"{re.escape(address)}\s+(\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d) \+", line)
            if found:
                banned_at = time.mktime(time.strptime(found.group(1), "%Y-%m-%d %H:%M:%S"))
                return (time.time() - banned_at) / 86400
        return None

    def jails_banning(self, address):
        return [jail.name for jail in SETTINGS.jails if jail.enabled and address in self.banned(jail.name)]

    def qmail_f2b(self, *args):
        return self.run(shlex.join([TOOL, *args]))

    def listed_by_qmail_f2b(self, jail, address):
        """qmail-f2b bans says `Banned in JAIL: IP IP...`."""
        output = self.qmail_f2b("bans").stdout
        lines = [line for line in output.splitlines() if line.startswith(f"Banned in {jail}:")]
        return any(address in line.split(":", 1)[1].split() for line in lines), output.strip()

    def mails(self):
        """Every message the sink was given, oldest first."""
        output = self.run(f"{sys.executable} -c {shlex.quote(MAILS)} {SPOOL}").stdout
        return json.loads(output)

    def ban_mails(self, jail, address):
        """The alerts sent for banning address in jail (the subject sendmail-whois writes)."""
        subject = f"[Fail2Ban] {jail}: banned {address} from "
        return [mail for mail in self.mails()
                if (email.message_from_string(mail["data"])["Subject"] or "").startswith(subject)]

    def fail2ban_log(self):
        return self.run(f"cat {FAIL2BAN_LOG}", check=False).stdout

    # ---- acting ----------------------------------------------------------------------------

    def fail_logins(self, protocol, address, count):
        """count failed logins from the attacker to Dovecot, all at once."""
        output = self.from_attacker("logins", protocol, address, str(count), USER, "wrong-password")
        results = output.splitlines()
        if results != ["failed"] * count:
            raise StepFailed(f"{count} failed {protocol} logins to {address}: the client saw {results}")

    def append_failures(self, jail, lines):
        self.write(SETTINGS.jail(jail).logpath, "".join(line + "\n" for line in lines), mode="a")

    def wait_banned(self, jail, address, last_failure=None):
        """Waits until fail2ban bans address in jail; returns the seconds since last_failure."""
        wait_for(f"fail2ban bans {address} in {jail}",
                 lambda: (address in self.banned(jail), f"{jail} bans {self.banned(jail)}"))
        if last_failure is None:
            return None
        latency = time.monotonic() - last_failure
        self.say(f"  {address} banned in {jail} {latency:.1f} s after the last failure")
        return latency

    def wait_blocked(self, address, ports):
        """Waits until no connection from the attacker to address reaches any of ports."""
        return wait_for(f"connections from the attacker to {address} port(s) {', '.join(map(str, ports))}"
                        " are refused or time out",
                        lambda: self._all(self.probe(address, ports), ("refused", "timeout")))

    def wait_open(self, address, ports):
        return wait_for(f"connections from the attacker to {address} port(s) {', '.join(map(str, ports))}"
                        " are answered",
                        lambda: self._all(self.probe(address, ports), ("open",)))

    @staticmethod
    def _all(states, wanted):
        return all(state in wanted for state in states.values()), states

    def wait_in_firewall(self, address):
        return wait_for(f"the firewall holds {address}",
                        lambda: (bool(self.firewall_rules(address)), "no rule names it"))

    def wait_not_in_firewall(self, address):
        return wait_for(f"the firewall no longer holds {address}",
                        lambda: (not self.firewall_rules(address), self.firewall_rules(address)))

    def wait_mail(self, jail, address):
        return wait_for(f"an alert for {address} in {jail} reaches the SMTP sink",
                        lambda: (bool(self.ban_mails(jail, address)),
                                 f"{len(self.mails())} messages, none for it"))

    def age_ban(self, jail, address, days):
        """Moves a ban `days` back in fail2ban's database (the server must be stopped)."""
        found = self.run(f"{sys.executable} -c {shlex.quote(AGE_BAN)} {DATABASE} {jail} {address} {days}")
        if found.stdout.strip() != "1":
            raise StepFailed(f"fail2ban's database holds no ban of {address} in {jail} to age")
