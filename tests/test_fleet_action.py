"""action.d/qmail-f2b-fleet.py under the real fail2ban (the staged install's): loaded by fail2ban's own
Actions.add as jail.local's `qmail-f2b-fleet.py[spool=...]` makes it, and driven through fail2ban's ban
path. A ban queues one well-formed file, private to root, that the fleet's sender reads; a ban restored
from fail2ban's database at start and an unban queue nothing. tests/test_fleet_lapi.py sends the files."""

import ipaddress
import json
import stat

import pytest

from installer.fleet import spool
from tests.support.install import REPO

ACTION = REPO / "action.d" / "qmail-f2b-fleet.py"

# Runs in the staged fail2ban's Python: one jail, this action alone, bans through fail2ban's Actions.
DRIVER = r"""
import json, os, sys, time
from fail2ban.server.jail import Jail
from fail2ban.server.ticket import BanTicket

action_path, folder = sys.argv[1:]
listing = lambda: sorted(os.listdir(folder)) if os.path.isdir(folder) else None
seen = {}
jail = Jail("dovecot", backend="polling")
jail.actions.setBanTime(600)
jail.actions.add("qmail-f2b-fleet", action_path, {"spool": folder})
action = jail.actions["qmail-f2b-fleet"]
seen["class"], seen["norestored"], seen["spool"] = type(action).__name__, action.norestored, action.spool
seen["before_start"] = listing()
action.start()
seen["started"] = listing()

jail.actions.addBannedIP("203.0.113.10")
seen["ban"] = listing()

restored = BanTicket("203.0.113.11", time.time())
restored.restored = True
jail.actions._Actions__checkBan([restored])
seen["restored_through_fail2ban"] = listing()
# Even called with a restored ban (an older fail2ban that does not look at norestored), nothing.
action.ban(jail.actions._getActionInfo(restored))
seen["restored_called"] = listing()

jail.actions.removeBannedIP("203.0.113.10")
seen["unban"] = listing()

jail.actions.addBannedIP("198.51.100.0/24")
for_ever = BanTicket("2001:db8::66", time.time())
for_ever.setBanTime(-1)
jail.actions._Actions__checkBan([for_ever])
seen["more"] = listing()
action.stop()
print(json.dumps(seen))
"""


@pytest.fixture(scope="module")
def seen(staged, tmp_path_factory):
    folder = tmp_path_factory.mktemp("action") / "spool" / "fleet"
    result = staged.run("fail2ban-python", "-c", DRIVER, ACTION, folder)
    assert result.returncode == 0, result.stderr
    # fail2ban logs an action's failure and goes on: a failure must not pass unseen.
    assert "Failed to execute" not in result.stderr, result.stderr
    return dict(json.loads(result.stdout), folder=folder)


def test_fail2ban_loads_the_action_with_the_spool_jail_local_gives(seen):
    assert (seen["class"], seen["norestored"]) == ("Publish", True)
    assert seen["spool"] == str(seen["folder"])


def test_start_makes_the_spool_a_folder_of_roots_closed_to_others(seen):
    assert seen["before_start"] is None and seen["started"] == []
    info = seen["folder"].stat()
    assert stat.S_ISDIR(info.st_mode) and info.st_uid == 0
    assert stat.S_IMODE(info.st_mode) & 0o077 == 0


def test_a_ban_queues_one_private_well_formed_file_the_sender_reads(seen):
    assert len(seen["ban"]) == 1
    name = seen["ban"][0]
    assert name.endswith(".json") and not name.startswith(".")
    path = seen["folder"] / name
    info = path.stat()
    assert stat.S_ISREG(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o600 and info.st_uid == 0
    record = json.loads(path.read_text())
    assert set(record) == {"jail", "ip", "bantime", "at"}
    assert (record["jail"], record["ip"], record["bantime"]) == ("dovecot", "203.0.113.10", 600)
    assert spool.read(path) == ("dovecot", ipaddress.ip_network("203.0.113.10/32"), 600)


def test_a_restored_ban_queues_nothing(seen):
    assert seen["restored_through_fail2ban"] == seen["ban"]
    assert seen["restored_called"] == seen["ban"]


def test_an_unban_queues_nothing(seen):
    assert seen["unban"] == seen["ban"]


def test_ranges_and_bans_for_ever_are_queued_in_the_order_they_came(seen):
    names = seen["more"]
    assert len(names) == 3 and names[0] == seen["ban"][0]
    # The sender sends in the order of the names: the order of the bans.
    assert [spool.read(path)[1:] for path in spool.pending(seen["folder"])] == [
        (ipaddress.ip_network("203.0.113.10/32"), 600), (ipaddress.ip_network("198.51.100.0/24"), 600),
        (ipaddress.ip_network("2001:db8::66/128"), -1)]
