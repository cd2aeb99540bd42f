"""Generated logs for the filters: realistic traffic with a share of failures, and hostile long lines.

realistic(name, count) gives the lines of a log the filter's jail reads, in that service's real
format, and how many lines each failregex of the filter must count (in the order of the filter
file). hostile_long_lines(name) gives lines of about 300 KB whose client-controlled fields are
built to make a regex backtrack, each with the address the filter may take from it (or None).
Only documentation addresses are used: 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32.
"""

import datetime
import random
from dataclasses import dataclass

START = datetime.datetime(2024, 5, 1, 0, 0, 0, tzinfo=datetime.timezone.utc)
SERVER = "198.51.100.1"
PLANTED = "203.0.113.66"


@dataclass
class GeneratedLog:
    lines: list
    hits: list  # expected hits of failregex 1, 2, ... of the filter

    @property
    def failures(self):
        return sum(self.hits)


# -- addresses and stamps -------------------------------------------------------------------

def client_address(rng):
    """A client: mostly IPv4, some IPv6 and some IPv4-mapped, as the services log them."""
    kind = rng.random()
    if kind < 0.7:
        return f"{rng.choice(('192.0.2', '198.51.100', '203.0.113'))}.{rng.randrange(1, 255)}"
    if kind < 0.9:
        return f"2001:db8:{rng.randrange(0x10000):x}::{rng.randrange(1, 0x10000):x}"
    return f"::ffff:192.0.2.{rng.randrange(1, 255)}"


def tai64n(when):
    """multilog's stamp, as fail2ban reads it: 2^62 + Unix seconds, then nanoseconds."""
    return "@4%015x%08x" % (int(when.timestamp()), when.microsecond * 1000)


def syslog_stamp(when):
    return when.strftime("%b ") + f"{when.day:2d}" + when.strftime(" %H:%M:%S")


def user_name(rng):
    return rng.choice(("info", "sales", "admin", "postmaster", "j.doe", "office", "test")) + "@example.com"


def session_id(rng, length=16):
    return "".join(rng.choice("abcdefghijklmnopqrstuv0123456789") for _ in range(length))


# -- per service: (weight, failregex number or 0, make(rng, address) -> message) --------------

def _qmail_smtp():
    def chkuser(title, description, rcpt="nobody@example.org"):
        return lambda rng, ip: (f"CHKUSER {title}: from <{user_name(rng)}|remoteinfo/auth:|chkuser-identify:> "
                                f"remote <helo:mx{rng.randrange(99)}.example.net|remotehostname:"
                                f"mx{rng.randrange(99)}.example.net|remotehostip:{ip}> rcpt <{rcpt}> : {description}")

    def smtpd(message):
        return lambda rng, ip: (f"qmail-smtpd: {message}: {user_name(rng)} from {ip} to nobody@example.org "
                                f"helo mx{rng.randrange(99)}.example.net")
    normal = [
        (30, 0, lambda rng, ip: f"tcpserver: status: {rng.randrange(1, 40)}/100"),
        (20, 0, lambda rng, ip: f"tcpserver: pid {rng.randrange(1000, 30000)} from {ip}"),
        (20, 0, lambda rng, ip: f"tcpserver: ok {rng.randrange(1000, 30000)} mail.example.org:{SERVER}:25 "
                                f":{ip}::{rng.randrange(1024, 65535)}"),
        (20, 0, lambda rng, ip: f"tcpserver: end {rng.randrange(1000, 30000)} status 0"),
        (25, 0, chkuser("accepted rcpt", "found existing recipient", "user@example.org")),
        (3, 0, chkuser("relaying rcpt", "client allowed to relay", "friend@example.net")),
        (1, 0, chkuser("rejected rcpt", "temporary DNS problem")),
        (1, 0, lambda rng, ip: "GREETDELAY: 5s"),
    ]
    failures = [
        (2, 1, smtpd("read failed")),
        (1, 1, smtpd("timeout")),
        (1, 1, smtpd("message rejected (qmail-dnsbl) (zen.example.net)")),
        (1, 2, lambda rng, ip: f"GREETDELAY from {ip}: client sent data before greeting"),
        (1, 2, lambda rng, ip: f"qmail-smtpd[{rng.randrange(1000, 30000)}]: GREETDELAY from {ip}: client disconnected"),
        (3, 3, chkuser("rejected rcpt", "not existing recipient")),
        (1, 3, chkuser("rejected relaying", "client not allowed to relay", "victim@example.net")),
    ]
    return (lambda when: tai64n(when) + " "), normal, failures


def multilog_d(when):
    """sagredo's multilog with "d": local time with nanoseconds (the tests read it as UTC)."""
    return when.strftime("%Y-%m-%d %H:%M:%S") + f".{when.microsecond * 1000:09d} "


def _qmail_smtp_sagredo():
    """sagredo's qmail-smtpd: a qlogenvelope line per verdict beside the older lines, multilog d."""
    def qlog(result, code, reason, detail="", port=25, rcpt="user@example.org", authuser="", head="qlogenvelope"):
        return lambda rng, ip: (f"{head}: result={result} code={code} reason={reason} detail={detail} "
                                f"helo=mx{rng.randrange(99)}.example.net mailfrom={user_name(rng)} rcptto={rcpt} "
                                f"relay=no rcpthosts=yes size= authuser={authuser} authtype= encrypted=tls "
                                f"sslverified=no localip={SERVER} localport={port} remoteip={ip} "
                                f"remoteport={rng.randrange(1024, 65535)} remotehost=mx{rng.randrange(99)}.example.net "
                                f"qp={rng.randrange(1000, 99999)} pid={rng.randrange(1000, 30000)}")

    def pid(message):
        return lambda rng, ip: f"qmail-smtpd[{rng.randrange(1000, 30000)}]: " + message(rng, ip)
    _, netqmail_normal, _ = _qmail_smtp()
    normal = netqmail_normal + [
        (25, 0, qlog("accepted", "250", "rcptto", "chkuser")),
        (20, 0, qlog("accepted", "250", "queueaccept", head="qlogreceived")),
        (5, 0, qlog("accepted", "250", "relayclient", port=587, rcpt="friend@example.net", authuser="info@example.org")),
        (5, 0, pid(lambda rng, ip: f"auth: auth-success type=login user=<{user_name(rng)}>")),
        (1, 0, qlog("rejected", "451", "rcptcheck", "cannotverify")),
        (1, 0, qlog("rejected", "554", "pregreet")),
    ]
    failures = [
        (4, 4, qlog("rejected", "535", "authfailed", port=587)),
        (2, 4, qlog("rejected", "553", "rblreject", "zen.example.net")),
        (1, 4, qlog("rejected", "553", "dontrelay", rcpt="victim@example.net")),
        (1, 2, pid(lambda rng, ip: f"GREETDELAY from {ip}: client sent data before greeting")),
        (1, 6, pid(lambda rng, ip: f"badrcptto: excessive rcptto violations hanging up on {ip}")),
    ]
    return multilog_d, normal, failures


def _vpopmail():
    services = ("smtp", "smtps", "submission", "pop3", "pop3s", "imap", "imaps")

    def vchkpw(message):
        return lambda rng, ip: f"vpopmail[{rng.randrange(1000, 30000)}]: vchkpw-{rng.choice(services)}: {message} {user_name(rng)}:{ip}"
    normal = [
        (60, 0, vchkpw("(PLAIN) login success")),
        (20, 0, lambda rng, ip: f"dovecot: imap-login: Login: user=<{user_name(rng)}>, method=PLAIN, rip={ip}, "
                                f"lip={SERVER}, mpid={rng.randrange(1000, 30000)}, TLS"),
        (15, 0, lambda rng, ip: f"qmail: {rng.randrange(10**9, 10**10)}.{rng.randrange(1000)} delivery "
                                f"{rng.randrange(1, 9999)}: success: did_0+0+1/"),
        (2, 0, lambda rng, ip: f"vpopmail[{rng.randrange(1000, 30000)}]: vchkpw-webmail: password fail {user_name(rng)}:127.0.0.1"),
    ]
    failures = [
        (3, 1, vchkpw("password fail")),
        (1, 1, vchkpw("vpopmail user not found")),
    ]
    return (lambda when: syslog_stamp(when) + " mail "), normal, failures


def _qmailadmin():
    # qmailadmin logs failed logins only
    failures = [(1, 1, lambda rng, ip: f"user:{user_name(rng)} ip:{ip} auth:failed [@example.com]")]
    return (lambda when: when.strftime("%Y/%m/%d %H:%M:%S ")), [], failures


def _roundcube(form):
    def sessid(rng):
        return f"<{session_id(rng, 8)}> "

    def success(rng, ip):
        return f"{sessid(rng)}Successful login for {user_name(rng)} (ID: {rng.randrange(1, 500)}) from {ip} in session {session_id(rng)}"

    def failed(rng, ip):
        return f"{sessid(rng)}Failed login for {user_name(rng)} from {ip} in session {session_id(rng)} (error: 0)"

    def imap_error(rng, ip):
        return (f"{sessid(rng)}IMAP Error: Login failed for {user_name(rng)} against imap.example.com from {ip}. "
                "AUTHENTICATE PLAIN: Authentication failed. in /srv/roundcube/program/lib/Roundcube/rcube_imap.php "
                "on line 211 (POST /?_task=login&_action=login)")
    if form == "userlogins":
        return (lambda when: when.strftime("[%d-%b-%Y %H:%M:%S +0000]: ")), [(1, 0, success)], [(1, 2, failed)]
    normal = [(10, 0, success),
              (1, 0, lambda rng, ip: f"{sessid(rng)}IMAP Error: Empty startup greeting (imap.example.com:143) in "
                                     "/srv/roundcube/program/lib/Roundcube/rcube_imap_generic.php on line 1074 (GET /)")]
    return (lambda when: syslog_stamp(when) + f" mail roundcube[{4000 + when.second}]: "), normal, [(1, 1, imap_error), (1, 2, failed)]


def _dovecot():
    def login_failed(rng, ip):
        reason = rng.choice(("Disconnected", "Aborted login", "Disconnected: Inactivity",
                             "Disconnected: Connection closed: read(size=1003) failed: Connection reset by peer"))
        return (f"{rng.choice(('imap', 'pop3', 'submission'))}-login: {reason} (auth failed, 1 attempts in "
                f"{rng.randrange(1, 30)} secs): user=<{user_name(rng)}>, method=PLAIN, rip={ip}, lip={SERVER}, "
                f"TLS, session=<{session_id(rng)}>")
    normal = [
        (40, 0, lambda rng, ip: f"imap-login: Login: user=<{user_name(rng)}>, method=PLAIN, rip={ip}, lip={SERVER}, "
                                f"mpid={rng.randrange(1000, 30000)}, TLS, session=<{session_id(rng)}>"),
        (40, 0, lambda rng, ip: f"imap({user_name(rng)})<{rng.randrange(1000, 30000)}><{session_id(rng)}>: "
                                f"Disconnected: Logged out in={rng.randrange(9999)} out={rng.randrange(99999)} "
                                "deleted=0 expunged=0 trashed=0 hdr_count=0 hdr_bytes=0 body_count=0 body_bytes=0"),
        (8, 0, lambda rng, ip: f"imap-login: Disconnected (no auth attempts in {rng.randrange(1, 60)} secs): "
                               f"user=<>, rip={ip}, lip={SERVER}, TLS handshaking: SSL_accept() failed"),
        (5, 0, lambda rng, ip: f"lmtp({user_name(rng)})<{rng.randrange(1000, 30000)}><{session_id(rng)}>: "
                               f"msgid=<{session_id(rng)}@example.net>: saved mail to INBOX"),
    ]
    failures = [
        (6, 1, login_failed),
        (1, 2, lambda rng, ip: f"pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot "
                               f"ruser={user_name(rng)} rhost={ip}  user={user_name(rng)}"),
        (1, 3, lambda rng, ip: f"auth-worker({rng.randrange(1000, 30000)}): pam({user_name(rng)},{ip}): "
                               "pam_authenticate() failed: Authentication failure (password mismatch?)"),
        (2, 4, lambda rng, ip: f"auth: passwd-file({user_name(rng)},{ip},<{session_id(rng)}>): unknown user"),
        (1, 5, lambda rng, ip: f"auth({user_name(rng)},{ip},sasl:plain)<{session_id(rng)}>: Info: sql: Password mismatch"),
    ]
    return (lambda when: syslog_stamp(when) + " mail dovecot: "), normal, failures


SERVICES = {
    "qmail-smtp": _qmail_smtp,
    "qmail-smtp-sagredo": _qmail_smtp_sagredo,
    "vpopmail": _vpopmail,
    "qmailadmin": _qmailadmin,
    "roundcube-auth": lambda: _roundcube("syslog"),
    "roundcube-userlogins": lambda: _roundcube("userlogins"),
    "dovecot": _dovecot,
}
REGEX_COUNT = {"qmail-smtp": 6, "qmail-smtp-sagredo": 6, "vpopmail": 1, "qmailadmin": 1, "roundcube-auth": 3, "roundcube-userlogins": 3,
               "dovecot": 5}


def _pick(rng, kinds):
    return rng.choices(kinds, weights=[weight for weight, _, _ in kinds])[0]


def realistic(name, count, failure_share=0.02, seed=1):
    """count lines of the log read with filter name (roundcube-userlogins: that file alone)."""
    rng = random.Random(seed)
    stamp, normal, failures = SERVICES[name]()
    hits = [0] * REGEX_COUNT[name]
    lines = []
    when = START
    for _ in range(count):
        when += datetime.timedelta(microseconds=rng.randrange(1, 400_000))
        if not normal or rng.random() < failure_share:
            _, regex, make = _pick(rng, failures)
            hits[regex - 1] += 1
        else:
            _, _, make = _pick(rng, normal)
        lines.append(stamp(when) + make(rng, client_address(rng)))
    return GeneratedLog(lines, hits)


# -- hostile long lines -------------------------------------------------------------------------

def hostile_long_lines(name, size=300_000):
    """[(line, address the filter may take or None, what is long)] for filter name."""
    real = {"qmail-smtp": "192.0.2.200", "vpopmail": "192.0.2.201", "qmailadmin": "192.0.2.202",
            "roundcube-auth": "192.0.2.203", "dovecot": "192.0.2.204"}[name]

    def fill(unit):
        return unit * (size // len(unit))
    stamp = {"qmail-smtp": tai64n(START) + " ", "vpopmail": "May  1 00:00:00 mail vpopmail[1]: ",
             "qmailadmin": "2024/05/01 00:00:00 ", "roundcube-auth": "[01-May-2024 00:00:00 +0000]: <k3m9x2pa> ",
             "dovecot": "May  1 00:00:00 mail dovecot: "}[name]
    chkuser = ("CHKUSER rejected rcpt: from <{s}|remoteinfo/auth:|chkuser-identify:> remote <helo:{h}|"
               "remotehostname:unknown|remotehostip:{ip}> rcpt <{r}> : not existing recipient")
    qlog = ("qlogenvelope: result=rejected code=535 reason=authfailed detail= helo={h} mailfrom= rcptto= relay=no "
            "rcpthosts= size= authuser=u authtype=login encrypted=tls sslverified=no localip=198.51.100.1 "
            "localport=587 remoteip={ip}")
    qlog_tail = " remoteport=50000 remotehost= qp= pid=4711"
    tail = (". AUTHENTICATE PLAIN: Authentication failed. in /srv/roundcube/program/lib/Roundcube/rcube_imap.php "
            "on line 211 (POST {uri})")
    lines = {
        "qmail-smtp": [
            (chkuser.format(s="a@example.com", h=fill("> remote <helo:|remotehostip:"), ip=real, r="x@example.org"),
             real, "HELO of '> remote <helo:|remotehostip:'"),
            (f"qmail-smtpd: read failed: a@example.com from {real} to b@example.org helo " + fill(f" from {PLANTED} t"),
             real, "HELO of half markers"),
            ("qmail-smtpd: timeout: " + fill("x from ") + f" from {real} to b@example.org helo h", real,
             "sender of ' from '"),
            (f"qmail-smtpd: read failed: a from {real} to " + fill(" to from ") + " helo h", real, "recipient of ' to from '"),
            (chkuser.format(s=fill("|remotehostip:1"), h="h", ip=real, r="x@example.org"), real,
             "sender of '|remotehostip:1'"),
            (f"qmail-smtpd: read failed: a from {real} to b helo " + fill(f"x from {PLANTED} to "), None,
             "HELO of whole markers"),
            (chkuser.format(s="a@example.com", h=fill("> remote <helo:|remotehostip:"), ip=real, r="x@example.org")
             .replace("not existing recipient", "temporary DNS problem"), None,
             "HELO of '> remote <helo:|remotehostip:', no failure"),
            (qlog.format(h=fill(f" remoteip={PLANTED} remoteport=1 remotehost= qp= pid=1"), ip=real) + qlog_tail,
             real, "qlogenvelope HELO of planted tails (SMTPUTF8)"),
            (qlog.format(h="h", ip=real) + " authuser=" + fill(" remoteip=1"), None,
             "qlogenvelope auth user of ' remoteip=', no tail"),
        ],
        "vpopmail": [
            ("vchkpw-pop3: password fail (pass: '" + fill("') a@b:") + f"') user@example.com:{real}", real,
             "password of \"') a@b:\""),
            ("vchkpw-pop3: password fail (pass: '" + fill("x") + f"') user@example.com:{real}", real, "password"),
            ("vchkpw-pop3: vpopmail user not found user@" + fill("a.") + f"example.com:{real}", real, "domain"),
            ("vchkpw-pop3: password fail (pass: '" + fill(":2001:db8::") + f"') user@example.com:{real}", real,
             "password of IPv6 pieces"),
            ("vchkpw-submission: password fail (pass: '" + fill(":2001:db8::") + "') user@example.com:2001:db8::c9",
             "2001:db8::c9", "password of IPv6 pieces, IPv6 client"),
            ("vchkpw-pop3: password fail (pass: '" + fill("') a@b:") + "') user@example.com:", None,
             "password of \"') a@b:\", no address"),
        ],
        "qmailadmin": [
            ("user:" + fill(" ip:198.51.100.9") + f"@example.com ip:{real} auth:failed [@example.com]", real,
             "user of half markers"),
            (f"user:u@example.com ip:{real} auth:failed [" + fill(" ip:") + "@example.com]", real, "new user of ' ip:'"),
            ("user:" + fill("u") + f"@example.com ip:{real} auth:failed [@example.com]", real, "user"),
            (f"user:u@example.com ip:{real} auth:failed [" + fill(f" ip:{PLANTED} auth:failed") + "]", None,
             "new user of whole markers"),
            ("user:" + fill(" ip:198.51.100.9") + "@example.com ip:unknown auth:failed [@example.com]", None,
             "user of half markers, no address"),
        ],
        "roundcube-auth": [
            ("IMAP Error: Login failed for " + fill(" from") + f" from {real}" + tail.format(uri="/?_task=login"), real,
             "user of ' from'"),
            (f"IMAP Error: Login failed for u from {real}(X-Forwarded-For: " + fill("(") + ")" +
             tail.format(uri="/?_task=login"), real, "X-Forwarded-For of '('"),
            ("Failed login for " + fill(" from 198.51.100.9 x") + f" from {real} in session abc (error: 0)", real,
             "user of half markers"),
            (f"IMAP Error: Login failed for u from {real}" + tail.format(uri="/?" + fill("from%20")), real, "request URI"),
            (f"Failed login for u from {real}(X-Forwarded-For: " + fill(f" from {PLANTED}(") + ") in session abc (error: 0)",
             real, "X-Forwarded-For of ' from ADDRESS('"),
            (f"Failed login for u from {real} (X-Forwarded-For: " + fill(f" from {PLANTED} (X-Forwarded-For: ") +
             ") in session abc (error: 0)", None, "X-Forwarded-For of whole markers"),
            ("Failed login for " + fill(f" from {PLANTED} (X-Real-IP: x) in session abc (error: 0)") + f" from {real} "
             "in session abc (error: 0)", real, "user of whole lines"),
            ("IMAP Error: Login failed for " + fill(" from 198.51.100.9") + " x" + tail.format(uri="/"), None,
             "user of ' from ADDRESS', no address at the end"),
        ],
        "dovecot": [
            ("imap-login: Disconnected: " + fill("a: ") + f"(auth failed, 1 attempts in 2 secs): user=<u>, rip={real}",
             real, "reason of 'a: '"),
            ("imap-login: Disconnected: " + fill("a: ") + "no match", None, "reason of 'a: ', no failure"),
            ("imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<" + fill("u>, rip=198.51.100.9") +
             f">, method=PLAIN, rip={real}, lip={SERVER}", None, "user of '>, rip=' pieces"),
            ("auth: passwd-file(" + fill(",1") + f",{real},<abc>): unknown user", real, "user of ',1'"),
            (f"auth: passwd-file(u,{real},<abc>): unknown user (given password: " + fill("x,1): ") + ")", None,
             "password of whole markers"),
            ("pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser=" + fill("u") +
             f" rhost={real}", real, "PAM user"),
        ],
    }[name]
    return [(stamp + line, host, what) for line, host, what in lines]
