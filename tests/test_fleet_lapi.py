"""The fleet's bans at a real CrowdSec Local API (crowdsec -no-cs, as the lapi host runs it): the spool
sent once and only once, never what ignoreip covers, damaged files set aside, nothing lost while the
LAPI is down or restarting, one host's decisions lifted apart from another's, refused credentials
named. tests/support/fleet_lapi.py runs every scenario in one network namespace of its own, with one
LAPI start; each test reads what its scenario saw."""

import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from installer.fleet import lapi, spool
from tests.support.fleet_lapi import URL, queue
from tests.support.install import REPO

pytestmark = pytest.mark.skipif(not shutil.which("crowdsec") or not shutil.which("cscli"),
                                reason="CrowdSec (Debian package crowdsec) is not installed")


@pytest.fixture(scope="module")
def seen(tmp_path_factory):
    """{scenario: what it saw}, from one run of every scenario."""
    workdir = tmp_path_factory.mktemp("lapi")
    # A PID namespace too: when the driver ends, however it ends, the kernel ends the LAPI with it.
    result = subprocess.run(
        ["unshare", "--net", "--pid", "--fork", "--kill-child", sys.executable, "-m", "tests.support.fleet_lapi",
         str(workdir), os.readlink("/proc/self/ns/net")],
        cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO), PYTHONDONTWRITEBYTECODE="1"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
    log = (workdir / "lapi.log").read_text(errors="replace") if (workdir / "lapi.log").exists() else ""
    assert result.returncode == 0, result.stderr + log
    return json.loads(result.stdout)


def scenario(seen, name):
    found = seen[name]
    assert "crashed" not in found, found.get("crashed")
    return found


_PART = re.compile(r"([0-9.]+)(h|ms|m|s)")


def seconds(go_duration):
    """Seconds of a Go duration as the LAPI writes them: 87599h59m59.2s, 9m59.3s."""
    assert re.fullmatch(r"(?:[0-9.]+(?:h|ms|m|s))+", go_duration), go_duration
    unit = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    return sum(float(number) * unit[which] for number, which in _PART.findall(go_duration))


def test_the_lapi_starts_within_a_second_and_the_registration_is_done_once(seen):
    assert seen["start_seconds"] < 1
    assert seen["registered"]["returned"] == {
        "first": ["machine mx1", "bouncer mx1", "machine mx2", "bouncer mx2"], "again": []}


def test_each_spooled_ban_becomes_one_decision_with_its_host_jail_scope_and_time(seen):
    once = scenario(seen, "publish_once")
    assert once["send"] == {"returned": None}
    assert once["left"] == []
    decisions = {decision["value"]: decision for decision in once["decisions"]}
    assert len(once["decisions"]) == 3 and set(decisions) == {"203.0.113.10", "198.51.100.0/24", "2001:db8::66"}
    assert [(decisions[value]["scenario"], decisions[value]["scope"]) for value in sorted(decisions)] == [
        ("qmail-f2b/mx1/custom", "Range"), ("qmail-f2b/mx1/qmail-smtp", "Ip"), ("qmail-f2b/mx1/dovecot", "Ip")]
    assert {decision["origin"] for decision in once["decisions"]} == {lapi.ORIGIN}
    assert 590 < seconds(decisions["203.0.113.10"]["duration"]) <= 600
    assert 3590 < seconds(decisions["198.51.100.0/24"]["duration"]) <= 3600
    # A ban for ever (bantime -1) lasts ten years at the LAPI.
    assert lapi.FOR_EVER_SECONDS - 10 < seconds(decisions["2001:db8::66"]["duration"]) <= lapi.FOR_EVER_SECONDS
    assert once["said"] == ["published 203.0.113.10 (dovecot, 600 s)", "published 198.51.100.0/24 (custom, 3600 s)",
                            "published 2001:db8::66 (qmail-smtp, for ever)"]


def test_a_ban_the_lapi_already_holds_is_not_published_again(seen):
    again = scenario(seen, "no_duplicates")
    assert again["send"] == {"returned": None} and again["left"] == []
    assert [decision["scenario"] for decision in again["decisions"]] == ["qmail-f2b/mx1/dovecot"]
    assert again["said"] == ["already at the Local API: 203.0.113.10 (dovecot)"]


def test_what_fleet_ignoreip_or_loopback_covers_is_dropped_unpublished(seen):
    ignored = scenario(seen, "ignored")
    assert ignored["send"] == {"returned": None} and ignored["left"] == []
    assert [decision["value"] for decision in ignored["decisions"]] == ["203.0.113.201"]
    assert ignored["said"] == [
        "not published: 203.0.113.200 (dovecot) is within [fleet] ignoreip 203.0.113.200/32",
        "not published: 192.0.2.130 (dovecot) is within [fleet] ignoreip 192.0.2.128/25",
        # A range that only touches an ignored network would ban it too.
        "not published: 192.0.2.0/24 (dovecot) is within [fleet] ignoreip 192.0.2.128/25",
        "not published: 127.0.0.2 (dovecot) is within [fleet] ignoreip 127.0.0.0/8",
        "not published: ::1 (dovecot) is within [fleet] ignoreip ::1/128",
        "published 203.0.113.201 (dovecot, 600 s)"]


def test_damaged_spool_files_are_set_aside_and_the_good_ones_after_them_still_go(seen):
    damaged = scenario(seen, "damaged")
    assert damaged["send"] == {"returned": None}
    assert damaged["left"] == ["1-not-json.json.damaged", "2-no-ip.json.damaged", "3-bad-jail.json.damaged",
                               "4-no-bantime.json.damaged", "5-bad-ip.json.damaged"]
    assert [line.split(": not a ban")[0].rsplit("/", 1)[-1] for line in damaged["said"][:5]] == [
        "1-not-json.json", "2-no-ip.json", "3-bad-jail.json", "4-no-bantime.json", "5-bad-ip.json"]
    assert all(line.startswith("set aside ") and "\n" not in line for line in damaged["said"][:5])
    assert damaged["said"][5:] == ["published 203.0.113.11 (dovecot, 600 s)"]
    assert [decision["value"] for decision in damaged["decisions"]] == ["203.0.113.11"]


def test_before_the_lapi_starts_bans_wait_and_then_all_go_once(seen):
    down = scenario(seen, "before_start")["returned"]
    assert down["send"]["raised"] == "Unreachable" and down["send"]["unreachable"]
    assert down["send"]["message"].startswith(f"the Local API at {URL} does not answer: ")
    assert len(down["left"]) == 2 and down["said"] == []
    up = scenario(seen, "after_start")
    assert up["send"] == up["again"] == {"returned": None}
    assert up["left"] == []
    assert [(decision["value"], decision["scenario"]) for decision in up["decisions"]] == [
        ("203.0.113.12", "qmail-f2b/mx1/dovecot"), ("203.0.113.13", "qmail-f2b/mx1/dovecot")]


def test_bans_wait_while_the_lapi_is_stopped_and_go_once_when_it_is_back(seen):
    restarted = scenario(seen, "restarted")
    assert restarted["before"] == {"returned": None}
    assert restarted["while_down"]["unreachable"], restarted["while_down"]
    assert len(restarted["left_while_down"]) == 2
    # The same sender goes on after the restart, as the fleet daemon's does.
    assert restarted["after"] == {"returned": None}, restarted["after"]
    assert restarted["again"] == {"returned": None} and restarted["left"] == []
    assert [decision["value"] for decision in restarted["decisions"]] == [
        "203.0.113.14", "203.0.113.15", "203.0.113.16"]


def test_unban_local_lifts_this_hosts_decision_and_unban_lifts_every_hosts(seen):
    lifted = scenario(seen, "lifted")
    assert [(decision["value"], decision["scenario"]) for decision in lifted["published"]] == [
        ("203.0.113.30", "qmail-f2b/mx1/dovecot"), ("203.0.113.30", "qmail-f2b/mx2/dovecot"),
        ("203.0.113.31", "qmail-f2b/mx1/qmail-smtp"), ("203.0.113.31", "qmail-f2b/mx2/qmail-smtp")]
    assert lifted["own"] == 1
    assert [decision["scenario"] for decision in lifted["after_own"]] == ["qmail-f2b/mx2/dovecot"]
    assert lifted["fleet_wide"] == 2
    assert lifted["after_fleet_wide"] == []


def test_lifting_an_address_leaves_a_banned_range_around_it(seen):
    exact = scenario(seen, "lifted_exactly")
    assert exact["own"] == {"returned": 1}
    assert [decision["value"] for decision in exact["after_own"]] == ["192.0.2.64/26", "192.0.2.70"]
    assert exact["fleet_wide"] == {"returned": 1}
    assert [decision["value"] for decision in exact["after_fleet_wide"]] == ["192.0.2.64/26"]


def test_a_wrong_password_or_bouncer_key_is_one_line_naming_it(seen):
    refused = scenario(seen, "refused")
    assert refused["password"]["message"] == (f"the Local API at {URL} refuses this host's password (HTTP 401):"
                                              " check the credentials of mx1")
    assert refused["unknown_machine"]["message"].endswith("password (HTTP 401): check the credentials of mx9")
    assert refused["bouncer_key"]["message"] == (f"the Local API at {URL} refuses this host's bouncer key"
                                                 " (HTTP 403): check the credentials of mx1")
    for what in ("password", "unknown_machine", "bouncer_key", "send"):
        assert refused[what]["installer_error"] and not refused[what]["unreachable"], refused[what]
    # Refused is not down: the daemon reports it as it is, and the ban waits for the right password.
    assert refused["send"]["message"] == refused["password"]["message"]
    assert len(refused["left"]) == 1 and refused["said"] == []


def test_drop_removes_the_pending_bans_of_the_networks_lifted_and_no_others(tmp_path):
    for jail, ip in (("dovecot", "203.0.113.20"), ("custom", "198.51.100.0/24"), ("qmail-smtp", "203.0.113.20"),
                     ("dovecot", "203.0.113.21"), ("dovecot", "2001:db8::20")):
        queue(tmp_path, jail, ip, 600)
    (tmp_path / "0-damaged.json").write_text("{")
    dropped = spool.drop(tmp_path, [ipaddress.ip_network("203.0.113.20/32"), ipaddress.ip_network("198.51.100.0/24"),
                                    ipaddress.ip_network("2001:db8::20/128")])
    assert sorted(dropped) == ["198.51.100.0/24", "2001:db8::20", "203.0.113.20", "203.0.113.20"]
    assert [spool.read(path)[1] for path in spool.pending(tmp_path)[1:]] == [ipaddress.ip_network("203.0.113.21/32")]
    # A damaged file is not dropped: the sender sets it aside where the admin sees it.
    assert (tmp_path / "0-damaged.json").exists()


def test_drop_of_an_empty_or_missing_spool_drops_nothing(tmp_path):
    assert spool.drop(tmp_path, [ipaddress.ip_network("203.0.113.20/32")]) == []
    assert spool.drop(tmp_path / "nowhere", [ipaddress.ip_network("203.0.113.20/32")]) == []



def test_a_ban_the_lapi_refuses_is_set_aside_and_holds_up_none_behind_it(seen):
    found = scenario(seen, "one_refused")
    assert "raised" not in found["send"], found
    assert found["left"] == ["1-too-long.json.refused"]
    assert [decision["value"] for decision in found["decisions"]] == ["203.0.113.42"]
    assert any(line.startswith("set aside 1-too-long.json.refused: ") for line in found["said"])
