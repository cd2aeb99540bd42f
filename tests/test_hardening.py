"""Hostile or odd input that once slipped past a check: each case is one clear error line, no traceback,
and nothing changed."""

import pytest

from installer import cli, install, siteconf
from installer.errors import InstallerError


# ---- site.conf: ASCII digits only, and no address sendmail would read as an option -------------

# (site.conf text, key, words in the reason)
UNREADABLE_BY_FAIL2BAN = {
    "superscript maxretry": ("[defaults]\nmaxretry = \u00b2\n", "defaults.maxretry", "whole number"),
    "superscript port": ("[jails]\n  [[dovecot]]\n  port = \u00b2\n", "jails.dovecot.port", "not a port number"),
    "superscript among ports": ("[jails]\n  [[dovecot]]\n  port = 143, 9\u00b9\u00b3\n", "jails.dovecot.port",
                                "not a port number"),
    "arabic-indic maxretry": ("[jails]\n  [[dovecot]]\n  maxretry = \u0665\n", "jails.dovecot.maxretry",
                              "whole number"),
    "arabic-indic port": ("[jails]\n  [[dovecot]]\n  port = \u0661\u0664\u0663\n", "jails.dovecot.port",
                          "not a port number"),
    "arabic-indic bantime": ("[defaults]\nbantime = \u0661h\n", "defaults.bantime", "positive time"),
    "fullwidth findtime": ("[defaults]\nfindtime = \uff11\uff10m\n", "defaults.findtime", "positive time"),
    "unicode space inside a time": ("[defaults]\nbantime = 1\u2003h\n", "defaults.bantime", "positive time"),
    "dest that is a sendmail option": ("[alerts]\ndest = -t@example.com\n", "alerts.dest", "e-mail address"),
    "sender that is a sendmail option": ("[alerts]\nsender = -oi@example.com\n", "alerts.sender", "e-mail address"),
}


@pytest.mark.parametrize("case", UNREADABLE_BY_FAIL2BAN)
def test_site_conf_values_fail2ban_or_sendmail_would_misread(case):
    text, key, reason = UNREADABLE_BY_FAIL2BAN[case]
    with pytest.raises(InstallerError) as raised:
        siteconf.parse(text, "site.conf")
    message = str(raised.value)
    assert message.startswith(f"site.conf, line {text.count(chr(10))}, key {key}: "), message
    assert reason in message
    assert "\n" not in message


def test_plain_values_next_to_those_still_load():
    settings = siteconf.parse("[alerts]\ndest = t-1@example.com\n[defaults]\nmaxretry = 3\nbantime = 1h 30m\n"
                              "[jails]\n  [[dovecot]]\n  port = 143, 993\n", "site.conf")
    assert (settings.dest, settings.maxretry, settings.bantime) == ("t-1@example.com", 3, "1h 30m")
    assert settings.jail("dovecot").port == (143, 993)


@pytest.mark.parametrize("lines", ["\u00b2", "\u0665", "-1", "1.5", ""])
def test_log_line_count_takes_ascii_digits_only(capsys, lines):
    with pytest.raises(SystemExit) as exited:
        cli.main(["log", "-n", lines])
    assert exited.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "is not a number of lines" in error[0], error


def test_a_group_id_that_is_not_ascii_digits_counts_as_root(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/group").write_text("adm:x:\u00b2:\nmail:x:\u0661\u0662:\nwheel:x:10:\n")
    assert [install.group_id(tmp_path, name) for name in ("adm", "mail", "wheel")] == [0, 0, 10]
