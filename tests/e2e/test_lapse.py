"""Protection that does not lapse, against the real Dovecot from the attacker's namespace.

A ban ends the banned client's open sessions within a moment (qmail-f2b-enforce.py: ss -K and
conntrack -D), and leaves every other client's alone. A firewall reload that wipes the rules
(iptables -F; iptables -X, or nft flush ruleset) is undone within seconds, with every ban, without
restarting fail2ban; unban works afterwards, and stopping fail2ban stops the watching.

The tests share one server; each starts from it as installed (back_as_installed).
"""

import shlex
import sys
import time

import pytest

from tests.support.mailhost import (
    ATTACKER_V4,
    ATTACKER_V6,
    CLIENT,
    RC,
    SERVER_V4,
    SERVER_V6,
    StepFailed,
    back_as_installed,
    wait_for,
)

# A second client beside the attacker, on the same wire: its sessions must outlive the ban.
OTHER_V4, OTHER_V6 = "203.0.113.67", "2001:db8::67"
FAMILIES = {"ipv4": (ATTACKER_V4, OTHER_V4, SERVER_V4), "ipv6": (ATTACKER_V6, OTHER_V6, SERVER_V6)}
IMAP = 143
HELD = 4
CUT_WITHIN = 1.5
BACK_WITHIN = 5.0
OVERRIDE = "/etc/fail2ban/jail.d/zz-test.local"
FLUSH_IPTABLES = "iptables -w -F && iptables -w -X && ip6tables -w -F && ip6tables -w -X"
FLUSH_NFT = "nft flush ruleset"
# The custom jail's firewall action as each banaction gives it, and how an admin's reload wipes it.
FIREWALLS = {
    "iptables-with-ipset": (None, FLUSH_IPTABLES),
    "iptables-without-ipset": ("iptables-allports[name=custom, protocol=tcp]", FLUSH_IPTABLES),
    "nftables": ("qmail-f2b-set.py[firewall=nftables, protocol=tcp]", FLUSH_NFT),
}


@pytest.fixture(scope="module")
def server(mailhost):
    mailhost.run(f"ip -n attacker addr add {OTHER_V4}/24 dev attack0"
                 f" && ip -n attacker addr add {OTHER_V6}/64 dev attack0 nodad")
    return mailhost


@pytest.fixture(autouse=True)
def as_installed(server):
    back_as_installed(server.host)
    yield
    # The holders end by themselves; ended here by the pids they were started with.
    server.run("for file in /run/hold-*.pid; do [ -e \"$file\" ] && kill $(cat \"$file\") 2>/dev/null;"
               " rm -f \"$file\"; done; true")


def hold(server, name, address, source, count=HELD, seconds=60, namespace="attacker"):
    """count idle IMAP sessions from source (in the attacker's namespace, or with namespace None the
    server's own), held in the background; returns their log's path."""
    log = f"/run/hold-{name}.out"
    command = shlex.join([sys.executable, str(CLIENT), "hold", address, str(IMAP), str(count), str(seconds),
                          "--source", source])
    pid_file = f"/run/hold-{name}.pid"
    script = f"echo $$ > {pid_file}; exec {command}"
    enter = f"ip netns exec {namespace} " if namespace else ""
    server.run(f"{enter}setsid -f sh -c {shlex.quote(script)} </dev/null >{log} 2>&1")
    wait_for(f"{count} IMAP sessions from {source} are open", lambda: held(server, log, count), interval=0.1)
    return log


def held(server, log, count):
    output = server.run(f"cat {log}", check=False).stdout
    return f"held {count}" in output.splitlines(), output.strip()


def sessions(server, peer):
    """The server's ESTABLISHED TCP sessions with peer, as ss lists them."""
    spellings = [f"[{peer}]"] if ":" in peer else [peer, f"[::ffff:{peer}]"]
    words = " or ".join(f"dst {spelling}" for spelling in spellings)
    return server.run(f"ss -Htn state established '( {words} )'").stdout.splitlines()


def wait_cut(server, peer, since):
    """Waits until the server holds no session with peer; the seconds since `since`."""
    wait_for(f"the server has no ESTABLISHED session with {peer}",
             lambda: (not sessions(server, peer), sessions(server, peer)), seconds=CUT_WITHIN, interval=0.05)
    return time.monotonic() - since


# The attacker's namespace also holds the other client's addresses: every probe names its source.
ATTACKER_OF = {SERVER_V4: ATTACKER_V4, SERVER_V6: ATTACKER_V6}


def imap_state(server, address, source):
    return server.from_attacker("probe", address, str(IMAP), "--source", source).split(" ", 1)[1].strip()


def cannot_reconnect(server, address, source):
    state = imap_state(server, address, source)
    assert state in ("refused", "timeout"), state


def wait_attacker(server, address, wanted, seconds=20):
    """Waits until the attacker's IMAP connections to address are `wanted` (blocked or open)."""
    states = ("refused", "timeout") if wanted == "blocked" else ("open",)
    return wait_for(f"the attacker is {wanted} on {address}",
                    lambda: (imap_state(server, address, ATTACKER_OF[address]) in states,
                             imap_state(server, address, ATTACKER_OF[address])),
                    seconds=seconds, interval=0.1)


@pytest.mark.parametrize("family", FAMILIES)
def test_a_manual_ban_ends_the_attackers_sessions_and_no_one_elses(server, family):
    attacker, other, address = FAMILIES[family]
    with server.step(f"{HELD} idle IMAP sessions each from {attacker} and {other}"):
        hold(server, f"attacker-{family}", address, attacker)
        other_log = hold(server, f"other-{family}", address, other)
        assert len(sessions(server, attacker)) == HELD, sessions(server, attacker)
    with server.step(f"qmail-f2b ban {attacker}: its sessions end within {CUT_WITHIN} s"):
        server.qmail_f2b("ban", attacker)
        took = wait_cut(server, attacker, time.monotonic())
        server.say(f"  the last session ended {took:.2f} s after qmail-f2b ban returned")
    with server.step("it cannot reconnect; the other client's sessions are all still open"):
        cannot_reconnect(server, address, attacker)
        assert len(sessions(server, other)) == HELD, sessions(server, other)
        assert "closed" not in server.run(f"cat {other_log}").stdout


def test_a_ban_for_failed_logins_ends_the_attackers_sessions(server):
    with server.step(f"{HELD} idle IMAP sessions from {ATTACKER_V4}, then failed logins until banned"):
        hold(server, "attacker-logins", SERVER_V4, ATTACKER_V4)
        server.fail_logins("imap", SERVER_V4, 6)
        server.wait_banned("dovecot", ATTACKER_V4)
        banned_at = time.monotonic()
    with server.step(f"its held sessions end within {CUT_WITHIN} s of the ban"):
        took = wait_cut(server, ATTACKER_V4, banned_at)
        server.say(f"  ended {took:.2f} s after the ban was seen")
        cannot_reconnect(server, SERVER_V4, ATTACKER_V4)


def test_a_network_ban_covering_this_host_cuts_the_attacker_but_not_the_host_itself(server):
    network = "203.0.113.0/24"
    with server.step(f"{HELD} sessions each from {ATTACKER_V4} and from the server's own {SERVER_V4}"):
        hold(server, "attacker-network", SERVER_V4, ATTACKER_V4)
        own_log = hold(server, "own", SERVER_V4, SERVER_V4, namespace=None)
    with server.step(f"a ban of {network}, which covers both (fail2ban-client: qmail-f2b refuses it)"):
        server.run(f"fail2ban-client set custom banip {network}")
        assert network in server.banned("custom"), server.banned("custom")
        wait_cut(server, ATTACKER_V4, time.monotonic())
    with server.step("the host's own sessions are left alone"):
        time.sleep(1.0)
        assert "closed" not in server.run(f"cat {own_log}").stdout
        assert len(sessions(server, SERVER_V4)) >= HELD, sessions(server, SERVER_V4)


def use_firewall(server, firewall):
    action, _ = FIREWALLS[firewall]
    if action:
        server.write(OVERRIDE, f"[custom]\naction = {action}\n         qmail-f2b-enforce.py\n")
        server.rc("restart")
        server.wait_for_jails()


@pytest.mark.parametrize("firewall", FIREWALLS)
def test_bans_come_back_after_the_firewall_is_flushed(server, firewall):
    _, flush = FIREWALLS[firewall]
    use_firewall(server, firewall)
    with server.step(f"{firewall}: qmail-f2b ban {ATTACKER_V4} {ATTACKER_V6}"):
        server.qmail_f2b("ban", ATTACKER_V4, ATTACKER_V6)
        wait_attacker(server, SERVER_V4, "blocked")
        wait_attacker(server, SERVER_V6, "blocked")
    with server.step(f"the admin reloads the firewall ({flush}): within {BACK_WITHIN} s the attacker is"
                     " blocked again, over IPv4 and IPv6"):
        # Timed by the attacker's own connection loops against the wall clock the flush ended at:
        # starting a client per probe from here would cost more than the watcher does.
        loops = " & ".join(
            "ip netns exec attacker " + shlex.join([sys.executable, str(CLIENT), "until-blocked", address, str(IMAP),
                                                   str(BACK_WITHIN + 2), "--source", ATTACKER_OF[address]])
            for address in (SERVER_V4, SERVER_V6))
        output = server.run(f"{flush} && date +%s.%N && {{ {loops} & wait; }}", timeout=60).stdout.split()
        flushed_at, results = float(output[0]), output[1:]
        assert results.count("blocked") == 2, output
        back = max(float(value) for value in results if value != "blocked") - flushed_at
        server.say(f"  blocked again {back:.2f} s after the flush")
        assert back <= BACK_WITHIN, back
    with server.step("unban still lifts it"):
        server.qmail_f2b("unban", ATTACKER_V4, ATTACKER_V6)
        wait_attacker(server, SERVER_V4, "open")
        wait_attacker(server, SERVER_V6, "open")


def test_stopping_fail2ban_stops_the_watching(server):
    with server.step(f"qmail-f2b ban {ATTACKER_V4}, then {RC} stop and a flush"):
        server.qmail_f2b("ban", ATTACKER_V4)
        wait_attacker(server, SERVER_V4, "blocked")
        server.rc("stop")
        server.run(f"{FLUSH_IPTABLES} && {FLUSH_NFT}")
    with server.step("nothing puts the rules back: no fail2ban-server, no set, table or chain"):
        time.sleep(2 * 1.0 + 0.5)
        assert server.run("pgrep -x fail2ban-server", check=False).returncode != 0
        firewall = server.run("iptables-save; ip6tables-save; nft list ruleset; ipset list -n", check=False).stdout
        assert "f2b" not in firewall, firewall
        wait_attacker(server, SERVER_V4, "open")
    server.rc("start")
    try:
        server.wait_for_jails()
    except StepFailed as error:
        pytest.fail(f"fail2ban did not start again: {error}")
