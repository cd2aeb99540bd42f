"""The fleet lab itself: three hosts that reach each other, attackers that reach them, and nothing
left behind in this machine's network namespace."""

import pytest

from tests.support.fleet import ATTACKERS, HOSTS, RANGE_ATTACKER, SWITCH_ADDRESS_V6, fleet_lab, this_machines_links

pytestmark = pytest.mark.fleet


def test_lab_wires_every_host_and_attacker_and_leaves_nothing_behind():
    links_before = this_machines_links()
    with fleet_lab() as lab:
        assert {name: host.check_output("hostname") for name, host in
                ((name, throwaway.host) for name, throwaway in lab.hosts.items())} == {name: name for name in HOSTS}
        for source in HOSTS:
            for target in HOSTS:
                if source != target:
                    assert lab.probe_between(source, target) == "refused", (source, target)
        connects = [(attacker, name, 25) for attacker in (*ATTACKERS, RANGE_ATTACKER) for name in HOSTS]
        outcomes = lab.probe_many(connects)
        assert [connect for connect, outcome in zip(connects, outcomes) if outcome != "refused"] == []
        assert lab.probe(SWITCH_ADDRESS_V6, lab.addresses_v6["mail-b"]) == "refused"
        lab.hosts["mail-b"].run("python3 -m http.server --bind 192.0.2.2 8025 >/dev/null 2>&1 &", check=True)
        assert _eventually_open(lab, ATTACKERS[-1], "mail-b", 8025)
        assert lab.probe(ATTACKERS[-1], "mail-c", 8025) == "refused", "each host is a machine of its own"
        assert this_machines_links() == links_before, "the lab lives in its own namespaces only"
    assert this_machines_links() == links_before


def _eventually_open(lab, source, name, port):
    for _ in range(50):
        if lab.probe(source, name, port) == "open":
            return True
        lab.switch.run("sleep 0.1")
    return False
