"""The first-run questions, driven through a terminal with pexpect: Enter keeps each default,
a bad answer is asked again, jails can be turned off and their logs moved."""

import sys
from pathlib import Path

import pexpect
import pytest

from installer.siteconf import settings as siteconf

REPO = Path(__file__).resolve().parent.parent
JAILS = [jail.name for jail in siteconf.defaults().jails]


@pytest.fixture
def root(tmp_path):
    """A host with qmail-smtpd's log, and syslog's folder but no maillog yet."""
    (tmp_path / "var/log/qmail/smtpd").mkdir(parents=True)
    (tmp_path / "var/log/qmail/smtpd/current").write_text("")
    return tmp_path


def start(root, *options):
    return pexpect.spawn(sys.executable, ["-m", "installer.siteconf.dialogue", *options, str(root)], cwd=str(REPO),
                         encoding="utf-8", timeout=20)


def answer_addresses(session, dest="", sender=""):
    session.expect_exact("Send ban reports to [root@localhost]: ")
    session.sendline(dest)
    session.expect_exact("Send them from [fail2ban@localhost]: ")
    session.sendline(sender)


def answer_jail(session, name, enable=""):
    """Answer whether to enable the jail, and press Enter at its log question if one comes."""
    default = siteconf.defaults().jail(name)
    session.expect_exact(f"{name}: ")
    session.expect_exact(f"enable it? [{'Y/n' if default.enabled else 'y/N'}]: ")
    session.sendline(enable)
    if (enable == "y" or not enable and default.enabled) and default.logpath:
        session.expect_exact(f"log file [{default.logpath}]")
        session.sendline("")


def written(session):
    session.expect_exact("--- site.conf ---")
    session.expect(pexpect.EOF)
    session.close()
    assert session.exitstatus == 0
    return siteconf.parse(session.before, "the dialogue's site.conf")


def test_enter_everywhere_keeps_the_defaults(root):
    session = start(root)
    answer_addresses(session)
    for name in JAILS:
        answer_jail(session, name)
    assert written(session) == siteconf.defaults()


def test_an_invalid_address_is_asked_again(root):
    session = start(root)
    session.expect_exact("Send ban reports to [root@localhost]: ")
    session.sendline("postmaster at example dot org")
    session.expect_exact("must be an e-mail address")
    session.expect_exact("Send ban reports to [root@localhost]: ")
    session.sendline("postmaster@example.org")
    session.expect_exact("Send them from [fail2ban@localhost]: ")
    session.sendline("a@b.c [sshd]")
    session.expect_exact("must be an e-mail address")
    session.expect_exact("Send them from [fail2ban@localhost]: ")
    session.sendline("fail2ban@mail.example.org")
    for name in JAILS:
        answer_jail(session, name)
    settings = written(session)
    assert (settings.dest, settings.sender) == ("postmaster@example.org", "fail2ban@mail.example.org")


def test_a_jail_turned_off_and_a_log_moved(root):
    session = start(root)
    answer_addresses(session)
    for name in JAILS:
        if name == "qmailadmin":
            answer_jail(session, name, enable="n")
        elif name == "dovecot":
            session.expect_exact("dovecot: ")
            session.expect_exact("enable it? [Y/n]: ")
            session.sendline("perhaps")
            session.expect_exact("must be yes or no")
            session.expect_exact("enable it? [Y/n]: ")
            session.sendline("yes")
            session.expect_exact("log file [/var/log/dovecot/dovecot.log]")
            session.sendline("dovecot.log")
            session.expect_exact("must be the absolute path of a file")
            session.expect_exact("log file [/var/log/dovecot/dovecot.log]")
            session.sendline("/var/log/maillog")
        elif name == "recidive":
            answer_jail(session, name, enable="y")
        else:
            answer_jail(session, name)
    settings = written(session)
    assert not settings.jail("qmailadmin").enabled
    assert settings.jail("dovecot").logpath == "/var/log/maillog"
    assert settings.jail("recidive").enabled
    assert settings.jail("vpopmail") == siteconf.defaults().jail("vpopmail")


def test_each_log_question_says_whether_the_file_is_there(root):
    session = start(root)
    answer_addresses(session)
    session.expect_exact("enable it? [Y/n]: ")
    session.sendline("")
    session.expect_exact("log file [/var/log/qmail/smtpd/current] (exists): ")
    session.sendline("")
    session.expect_exact("enable it? [Y/n]: ")
    session.sendline("")
    session.expect_exact("log file [/var/log/qmail/submission/current] (missing, and its folder too: ")
    session.sendline("/var/log/qmail/smtpd/current")
    session.expect_exact("enable it? [Y/n]: ")
    session.sendline("")
    session.expect_exact("log file [/var/log/maillog] (missing: created empty): ")
    session.close(force=True)


def test_closed_input_is_one_clear_error(root):
    session = start(root)
    session.expect_exact("Send ban reports to [root@localhost]: ")
    session.sendeof()
    session.expect_exact("error: the first-run questions got no answer")
    session.expect(pexpect.EOF)
    session.close()
    assert session.exitstatus == 1


def test_first_install_on_a_terminal_asks_and_writes_site_conf(root, fixture_tarball):
    from tests.support.install import install_command, sha256_of
    target = root / "target"
    (target / "var/log/dovecot").mkdir(parents=True)
    command = install_command("--root", target, "--tarball", fixture_tarball, "--sha256", sha256_of(fixture_tarball))
    session = pexpect.spawn(command[0], command[1:], cwd=str(REPO), encoding="utf-8", timeout=60)
    session.expect_exact("Send ban reports to [root@localhost]: ")
    session.sendline("not an address")
    session.expect_exact("try again")
    session.expect_exact("Send ban reports to [root@localhost]: ")
    session.sendline("postmaster@example.org")
    session.expect_exact("Send them from [fail2ban@localhost]: ")
    session.sendline("")
    for name in JAILS:
        answer_jail(session, name, enable="n" if name == "qmailadmin" else "")
    session.expect_exact("[8/8] Adding boot hooks and the manifest ... ok")
    session.expect(pexpect.EOF)
    session.close()
    assert session.exitstatus == 0
    written = siteconf.load(target / "etc/qmail-fail2ban/site.conf")
    assert written.dest == "postmaster@example.org"
    assert not written.jail("qmailadmin").enabled
    jail_local = (target / "etc/fail2ban/jail.local").read_text()
    assert "dest = postmaster@example.org" in (target / "etc/fail2ban/action.d/sendmail-common.local").read_text()
    assert "[dovecot]\nenabled = true" in jail_local


def test_the_fleet_questions_come_only_when_asked_for_and_check_each_answer(root):
    session = start(root, "--fleet")
    answer_addresses(session)
    for name in JAILS:
        answer_jail(session, name)
    session.expect_exact("this host's role: none, lapi (runs the Local API) or member [none]: ")
    session.sendline("member")
    session.expect_exact("its name in the fleet [")
    session.sendline("mail-b")
    session.expect_exact("the Local API's address (http://ADDRESS:PORT) []: ")
    session.sendline("https://192.0.2.1")
    session.expect_exact("as http://ADDRESS:PORT (like http://192.0.2.1:8080); not 'https://192.0.2.1'; try again.")
    session.sendline("http://192.0.2.1:8080")
    session.expect_exact("[/etc/qmail-fail2ban/fleet]: ")
    session.sendline("")
    session.expect_exact("never banned fleet-wide (addresses, networks) []: ")
    session.sendline("198.51.100.0/24")
    fleet = written(session).fleet
    assert (fleet.role, fleet.name, fleet.lapi_url, fleet.credentials) == (
        "member", "mail-b", "http://192.0.2.1:8080", "/etc/qmail-fail2ban/fleet")
    assert fleet.ignoreip == ("127.0.0.0/8", "::1", "198.51.100.0/24")


def test_without_asking_for_the_fleet_there_is_none(root):
    session = start(root)
    answer_addresses(session)
    for name in JAILS:
        answer_jail(session, name)
    assert written(session).fleet is None
