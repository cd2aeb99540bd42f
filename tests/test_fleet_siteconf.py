"""site.conf's [fleet]: no fleet unless asked, every key read and written back as it was, every bad
value refused with one line naming the line and the key, and what a fleet adds to the rendering.
Whether fail2ban takes the rendered jail.local is tests/test_render.py's part."""

import dataclasses

import pytest

from installer.fleet import crowdsec
from installer.shared import paths
from installer.shared.addresses import LOOPBACK
from installer.siteconf import render
from installer.siteconf import settings as siteconf
from installer.siteconf.text import to_text
from tests.support.siteconf import assert_refused, load_text

LAPI_HOST = """\
[fleet]
role = lapi
name = mx1
lapi_url = http://192.0.2.1:8080
credentials = /etc/qmail-fail2ban/fleet-keys
ignoreip = 203.0.113.200, 198.51.100.0/25
"""


def test_no_fleet_section_means_no_fleet(tmp_path):
    assert siteconf.defaults().fleet is None
    assert load_text(tmp_path, "[fleet]\nrole = none\nlapi_url = http://192.0.2.1:8080\n").fleet is None


def test_every_fleet_key_is_read(tmp_path):
    fleet = load_text(tmp_path, LAPI_HOST).fleet
    assert (fleet.role, fleet.name, fleet.lapi_url, fleet.credentials) == (
        "lapi", "mx1", "http://192.0.2.1:8080", "/etc/qmail-fail2ban/fleet-keys")
    assert fleet.runs_lapi
    # Loopback is never published, whatever the admin wrote.
    assert fleet.ignoreip == LOOPBACK + ("203.0.113.200", "198.51.100.0/25")


def test_a_member_takes_the_defaults_for_name_credentials_and_ignoreip(tmp_path):
    fleet = load_text(tmp_path, "[fleet]\nrole = member\nlapi_url = http://192.0.2.1:8080/\n").fleet
    assert (fleet.role, fleet.runs_lapi) == ("member", False)
    assert fleet.name == siteconf.host_name() and fleet.name
    assert fleet.lapi_url == "http://192.0.2.1:8080"
    assert fleet.credentials == paths.FLEET_CREDENTIALS
    assert fleet.ignoreip == LOOPBACK


@pytest.mark.parametrize("text", [LAPI_HOST, LAPI_HOST.replace("lapi\n", "member\n"), "[fleet]\nrole = none\n", ""])
def test_to_text_writes_the_fleet_back_as_it_was(tmp_path, text):
    settings = load_text(tmp_path, text)
    assert load_text(tmp_path, to_text(settings)) == settings


def test_to_text_of_changed_fleet_settings_loads_back_the_same(tmp_path):
    settings = dataclasses.replace(siteconf.defaults(), fleet=siteconf.Fleet(
        role="member", name="mx-3.b_c", lapi_url="http://lapi.example.org:6000", credentials="/srv/keys",
        ignoreip=LOOPBACK + ("2001:db8::/48",)))
    assert load_text(tmp_path, to_text(settings)) == settings


URL = "lapi_url = http://192.0.2.1:8080\n"

# (site.conf text, line, key, words in the reason)
BAD = {
    "unknown role": ("[fleet]\nrole = leader\n" + URL, 2, "fleet.role", "one of none, lapi, member"),
    "a slash in the name": ("[fleet]\nrole = member\nname = mx/1\n" + URL, 3, "fleet.name", "'mx/1'"),
    "a name starting with -": ("[fleet]\nrole = member\nname = -mx1\n" + URL, 3, "fleet.name",
                               "starting with a letter or digit"),
    "a name of 64 characters": ("[fleet]\nrole = member\nname = " + "m" * 64 + "\n" + URL, 3, "fleet.name",
                                "up to 63"),
    "https": ("[fleet]\nrole = member\nlapi_url = https://192.0.2.1:8080\n", 3, "fleet.lapi_url",
              "http://ADDRESS:PORT"),
    "no port": ("[fleet]\nrole = member\nlapi_url = http://192.0.2.1\n", 3, "fleet.lapi_url", "http://ADDRESS:PORT"),
    "port 70000": ("[fleet]\nrole = member\nlapi_url = http://192.0.2.1:70000\n", 3, "fleet.lapi_url",
                   "'http://192.0.2.1:70000'"),
    "port 0": ("[fleet]\nrole = member\nlapi_url = http://192.0.2.1:0\n", 3, "fleet.lapi_url", "http://ADDRESS:PORT"),
    "a path in lapi_url": ("[fleet]\nrole = member\nlapi_url = http://192.0.2.1:8080/v1\n", 3, "fleet.lapi_url",
                           "http://ADDRESS:PORT"),
    "relative credentials": ("[fleet]\nrole = member\n" + URL + "credentials = fleet\n", 4, "fleet.credentials",
                             "absolute path"),
    "a space in credentials": ('[fleet]\nrole = member\n' + URL + 'credentials = "/etc/a b"\n', 4,
                               "fleet.credentials", "absolute path"),
    "bad ignoreip": ("[fleet]\nrole = member\n" + URL + "ignoreip = 203.0.113.200, 203.0.113.300\n", 4,
                     "fleet.ignoreip", "'203.0.113.300' is not an IP address"),
    # A key that is not there is named with the line of its section.
    "a member without lapi_url": ("[fleet]\nrole = member\nname = mx2\n", 1, "fleet.lapi_url", "must be given"),
    "a lapi host without lapi_url": ("\n[fleet]\nrole = lapi\n", 2, "fleet.lapi_url",
                                     "must be given when role is lapi"),
    "two names": ("[fleet]\nrole = member\nname = mx1, mx2\n" + URL, 3, "fleet.name", "one value"),
    "unknown key": ("[fleet]\nrole = member\n" + URL + "lapi_key = x\n", 4, "fleet.lapi_key", "unknown key"),
    "bracket injection": ("[fleet]\nrole = member\n" + URL + "name = mx1 [sshd]\n", 4, "fleet.name",
                          "square bracket"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_fleet_input_is_one_line_naming_file_line_and_key(tmp_path, case):
    assert_refused(tmp_path, *BAD[case])


def rendered(tmp_path, text):
    return render.render(load_text(tmp_path, text), tmp_path / "root")


def test_a_fleet_adds_its_action_to_every_jail(tmp_path):
    settings = load_text(tmp_path, LAPI_HOST.replace("lapi\n", "member\n"))
    jail_local = render.render(settings, tmp_path / "root")[render.JAIL_LOCAL].decode()
    action = f"qmail-f2b-fleet.py[spool={paths.FLEET_SPOOL}]"
    assert jail_local.count(action) == len(settings.jails)
    for section in jail_local.split("\n[")[1:]:
        if section.startswith(tuple(jail.name + "]" for jail in settings.jails)):
            assert f"         qmail-f2b-enforce.py\n         {action}\n" in section, section


def test_no_fleet_adds_no_fleet_action_and_no_lapi_files(tmp_path):
    files = rendered(tmp_path, "")
    assert b"qmail-f2b-fleet" not in files[render.JAIL_LOCAL]
    assert set(files) == {render.JAIL_LOCAL, render.FAIL2BAN_LOCAL, render.SENDMAIL_COMMON_LOCAL}


def test_only_the_lapi_host_gets_the_local_apis_configuration(tmp_path):
    member = rendered(tmp_path, LAPI_HOST.replace("lapi\n", "member\n"))
    lapi = rendered(tmp_path, LAPI_HOST)
    lapi_files = {paths.relative(paths.LAPI_CONFIG), paths.relative(paths.LAPI_PROFILES)}
    assert not lapi_files & set(member)
    assert set(lapi) == set(member) | lapi_files
    fleet = load_text(tmp_path, LAPI_HOST).fleet
    assert {path: lapi[path] for path in lapi_files} == crowdsec.rendered(fleet)
    config = lapi[paths.relative(paths.LAPI_CONFIG)].decode()
    assert "    listen_uri: 192.0.2.1:8080\n" in config
    # No Central API: the LAPI must never reach out of the fleet.
    assert "online_client" not in config


def test_the_lapi_listens_on_an_ipv6_address_in_brackets(tmp_path):
    fleet = load_text(tmp_path, LAPI_HOST.replace("http://192.0.2.1:8080", "http://[2001:db8::1]:8080")).fleet
    assert crowdsec.listen_address(fleet) == "[2001:db8::1]:8080"
