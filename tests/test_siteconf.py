"""site.conf: the defaults, loopback always ignored, times read as fail2ban reads them, and every
kind of bad input refused with one line naming the file, the line and the key."""

import dataclasses
import ipaddress
import json

import pytest

from installer.shared.addresses import LOOPBACK
from installer.shared.durations import positive_seconds
from installer.shared.errors import InstallerError
from installer.siteconf import settings as siteconf
from installer.siteconf.text import to_text
from tests.support.siteconf import assert_refused, load_text


def test_defaults_are_the_tutorials_jails_with_docker_mailservers_defaults():
    settings = siteconf.defaults()
    assert (settings.maxretry, settings.findtime, settings.bantime) == (6, "1w", "1w")
    assert settings.banaction == "iptables"
    assert [jail.name for jail in settings.jails] == [
        "qmail-smtp", "qmail-submission", "vpopmail", "qmailadmin", "roundcube", "dovecot", "custom", "recidive"]
    assert [jail.name for jail in settings.jails if not jail.enabled] == ["recidive"]
    smtp = settings.jail("qmail-smtp")
    assert (smtp.port, smtp.logpath, smtp.maxretry, smtp.bantime, smtp.findtime) == (
        (25,), "/var/log/qmail/smtpd/current", 2, "86400", "3600")
    submission = settings.jail("qmail-submission")
    assert (submission.port, submission.logpath, submission.maxretry, submission.bantime, submission.findtime) == (
        (587,), "/var/log/qmail/submission/current", 2, "86400", "3600")
    vpopmail = settings.jail("vpopmail")
    assert (vpopmail.port, vpopmail.logpath, vpopmail.maxretry) == (
        (25, 465, 587, 110, 995, 143, 993), "/var/log/maillog", 5)
    assert (settings.jail("qmailadmin").port, settings.jail("qmailadmin").maxretry) == ((80, 443), 4)
    assert settings.jail("roundcube").logpath.endswith("/roundcube/logs/userlogins")
    dovecot = settings.jail("dovecot")
    assert (dovecot.port, dovecot.logpath, dovecot.maxretry, dovecot.bantime) == (
        (143, 993, 110, 995), "/var/log/dovecot/dovecot.log", 6, "3600")
    custom = settings.jail("custom")
    assert (custom.all_ports, custom.logpath, custom.bantime) == (True, None, "180d")


def test_an_empty_site_conf_gives_the_defaults(tmp_path):
    assert load_text(tmp_path, "") == siteconf.defaults()


@pytest.mark.parametrize("ignoreip", ["192.0.2.1", "", "198.51.100.0/24, 2001:db8::/32", "::1", "127.0.0.1/8"])
def test_ignoreip_always_holds_the_loopback_addresses(tmp_path, ignoreip):
    settings = load_text(tmp_path, f"[defaults]\nignoreip = {ignoreip!r}\n")
    given = [ipaddress.ip_network(item, strict=False) for item in settings.ignoreip]
    assert all(ipaddress.ip_network(loopback) in given for loopback in LOOPBACK)
    assert len(given) == len(set(given))
    for given in filter(None, (item.strip() for item in ignoreip.split(","))):
        assert given in settings.ignoreip


def test_to_text_loads_back_as_the_same_settings(tmp_path):
    assert load_text(tmp_path, to_text(siteconf.defaults())) == siteconf.defaults()
    changed = dataclasses.replace(
        siteconf.defaults(), dest="postmaster@example.org", sender="f2b@mail.example.org",
        ignoreip=("127.0.0.1/8", "::1", "192.0.2.0/24"), banaction="nftables", bantime="1h 30m",
        jails=tuple(dataclasses.replace(jail, enabled=not jail.enabled) for jail in siteconf.defaults().jails))
    assert load_text(tmp_path, to_text(changed)) == changed


TIMES = ["86400", "3600", "1h", "1w", "180d", "10m", "1h 30m", "2weeks", "1mo", "1y", "90s", "1d12h"]


@pytest.mark.parametrize("text", TIMES)
def test_times_are_read_as_fail2ban_reads_them(tmp_path, text):
    assert load_text(tmp_path, f"[defaults]\nbantime = {text}\n").bantime == text
    assert positive_seconds(text) > 0


def test_seconds_agree_with_fail2bans_own_parser(staged):
    code = ("import json, sys; from fail2ban.server.mytime import MyTime;"
            "print(json.dumps([MyTime.str2seconds(t) for t in sys.argv[1:]]))")
    result = staged.run("fail2ban-python", "-c", code, *TIMES)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [pytest.approx(positive_seconds(text)) for text in TIMES]


# (site.conf text, line, key, words in the reason)
BAD = {
    "invalid e-mail address": ("[alerts]\ndest = not-an-address\n", 2, "alerts.dest", "e-mail address"),
    "shell in an e-mail address": ('[alerts]\nsender = "a@b.c; reboot"\n', 2, "alerts.sender", "e-mail address"),
    "invalid IP in ignoreip": ("[defaults]\nignoreip = 127.0.0.1/8, 192.0.2.300\n", 2, "defaults.ignoreip",
                               "'192.0.2.300' is not an IP address"),
    "invalid CIDR in ignoreip": ("\n[defaults]\nignoreip = 192.0.2.0/33\n", 3, "defaults.ignoreip",
                                 "not an IP address or CIDR"),
    "port out of range": ("[jails]\n  [[vpopmail]]\n  port = 25, 65536\n", 3, "jails.vpopmail.port",
                          "'65536' is not a port number"),
    "port zero": ("[jails]\n  [[dovecot]]\n  port = 0\n", 3, "jails.dovecot.port", "not a port number"),
    "negative time": ("[defaults]\nbantime = -1\n", 2, "defaults.bantime", "positive time"),
    "unparseable time": ("[jails]\n  [[qmail-smtp]]\n  findtime = 1 fortnight\n", 3, "jails.qmail-smtp.findtime",
                         "positive time"),
    "zero time": ("[jails]\n  [[custom]]\n  bantime = 0\n", 3, "jails.custom.bantime", "positive time"),
    "negative maxretry": ("[defaults]\nmaxretry = -3\n", 2, "defaults.maxretry", "whole number"),
    "unknown jail name": ("[jails]\n  [[sshd]]\n  enabled = yes\n", 2, "jails.sshd", "no such jail"),
    "unknown key": ("[defaults]\nmaxretries = 3\n", 2, "defaults.maxretries", "unknown key"),
    "unknown key in a jail": ("[jails]\n  [[custom]]\n  logpath = /var/log/x\n", 3, "jails.custom.logpath",
                              "unknown key"),
    "unknown section": ("[firewall]\n", 1, "firewall", "unknown section"),
    "unknown banaction": ("[defaults]\nbanaction = pf\n", 2, "defaults.banaction", "one of iptables"),
    "newline injecting a section": ("[jails]\n  [[qmail-smtp]]\n  logpath = '''/var/log/x\n[sshd]\nenabled = true'''\n",
                                    3, "jails.qmail-smtp.logpath", "line break"),
    "bracket injecting a section": ("[alerts]\ndest = a@b.c [sshd]\n", 2, "alerts.dest", "square bracket"),
    "bracket in a log path": ("[jails]\n  [[dovecot]]\n  logpath = /var/log/[a]\n", 3, "jails.dovecot.logpath",
                              "square bracket"),
    "interpolation": ("[jails]\n  [[dovecot]]\n  logpath = /var/log/%(x)s\n", 3, "jails.dovecot.logpath", "%"),
    "relative log path": ("[jails]\n  [[dovecot]]\n  logpath = dovecot.log\n", 3, "jails.dovecot.logpath",
                          "absolute path"),
    "space in a log path": ('[jails]\n  [[dovecot]]\n  logpath = "/var/log/a b"\n', 3, "jails.dovecot.logpath",
                            "absolute path"),
    "not yes or no": ("[jails]\n  [[dovecot]]\n  enabled = maybe\n", 3, "jails.dovecot.enabled", "yes or no"),
    "a list for one address": ("[alerts]\ndest = a@b.c, d@e.f\n", 2, "alerts.dest", "one value"),
    "a key given twice": ("[alerts]\ndest = a@b.c\ndest = d@e.f\n", 3, "alerts.dest", "twice"),
    "a value for a section": ("alerts = a@b.c\n", 1, "alerts", "must be a [section]"),
    "a section for a value": ("[alerts]\n  [[dest]]\n", 2, "alerts.dest", "must be a value"),
    "too many ports": ("[jails]\n  [[dovecot]]\n  port = " + ", ".join(map(str, range(1, 17))) + "\n", 3,
                       "jails.dovecot.port", "at most 15"),
    "the first problem is the one reported": ("[alerts]\ndest = x\n[defaults]\nbantime = -1\n", 2, "alerts.dest",
                                              "e-mail address"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_input_is_one_line_naming_file_line_and_key(tmp_path, case):
    assert_refused(tmp_path, *BAD[case])


def test_a_line_that_is_no_key_nor_section_names_its_line(tmp_path):
    with pytest.raises(InstallerError) as raised:
        load_text(tmp_path, "[alerts]\ndest = a@b.c\n[defaults\n")
    assert str(raised.value).startswith(f"{tmp_path / 'site.conf'}, line 3: cannot read '[defaults'")


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(InstallerError) as raised:
        siteconf.load(tmp_path / "nowhere.conf")
    assert str(raised.value) == f"{tmp_path / 'nowhere.conf'}: cannot read it: No such file or directory"


def test_text_that_is_not_utf8_is_refused(tmp_path):
    path = tmp_path / "site.conf"
    path.write_bytes(b"[alerts]\ndest = caf\xe9@example.org\n")
    with pytest.raises(InstallerError, match=r"site\.conf, line 2: is not UTF-8 text"):
        siteconf.load(path)
