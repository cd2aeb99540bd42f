"""qmail-f2b doctor's checks for bans that do not lapse, on a throwaway installed mail host: whether a
ban can end the client's sessions (ss -K, conntrack) and which firewall path banaction = iptables
takes (ipset sets, or one rule per address). Each condition is the real one: a tool that cannot
work is replaced, in the throwaway only, by one that does nothing.

The tests share one host; each starts from it as installed (back_as_installed).
"""

import pytest

from tests.support.mailhost import RC, TOOL

JAIL_EXTRA = "/etc/fail2ban/jail.d/zz-test.local"


@pytest.fixture
def replaced(host):
    """Put a program that does nothing (or nothing at all) in place of a tool, for one test."""
    mounts = []

    def replace(path, by="/bin/true"):
        host.run(f"mount --bind {by} {path}", check=True)
        mounts.append(path)
    yield replace
    for path in reversed(mounts):
        host.run(f"umount {path}", check=True)


def line_of(host, check_text):
    result = host.run(f"env -u SSH_CLIENT {TOOL} doctor", timeout=120)
    hits = [line for line in result.stdout.splitlines() if check_text in line]
    assert len(hits) == 1, result.stdout
    return hits[0][:4].strip(), hits[0][6:]


def test_as_installed_sessions_are_cut_and_bans_go_in_sets(host):
    assert line_of(host, "open sessions") == (
        "OK", "a ban ends the client's open sessions: ss -K closes their sockets and conntrack -D removes their"
              " entries")
    assert line_of(host, "firewall sets") == (
        "OK", "the jails keep their bans in firewall sets loaded in batches (qmail-f2b-set.py): 5,000 bans and"
              " their restore take seconds")


def test_without_conntrack_only_the_sockets_are_closed(host, replaced):
    replaced("/usr/sbin/conntrack", "/bin/false")
    assert line_of(host, "ss -K") == (
        "WARN", "a ban closes the client's sockets with ss -K; conntrack cannot reach the kernel's connection"
                " tracking, so their conntrack entries stay until they time out: install it")


def test_where_ss_cannot_close_sockets_conntrack_ends_the_sessions_alone(host, replaced):
    replaced("/usr/bin/ss")
    assert line_of(host, "conntrack -D alone") == (
        "WARN", "a ban ends the client's sessions with conntrack -D alone: ss -K cannot close sockets here (the"
                " kernel lacks sock_diag destroy support, CONFIG_INET_DIAG_DESTROY), so the service keeps the"
                " socket until its own timeout; a kernel with CONFIG_INET_DIAG_DESTROY=y closes them")


def test_with_neither_sessions_stay_open_and_it_says_what_to_do(host, replaced):
    replaced("/usr/bin/ss")
    replaced("/usr/sbin/conntrack", "/bin/false")
    level, message = line_of(host, "leaves the client's open sessions")
    assert level == "WARN"
    assert message.endswith("ss -K cannot close sockets here (the kernel lacks sock_diag destroy support,"
                            " CONFIG_INET_DIAG_DESTROY), and conntrack cannot reach the kernel's connection"
                            " tracking")


def test_per_address_iptables_rules_are_named_and_so_is_a_missing_ipset(host, replaced):
    host.run(f"printf '[custom]\\naction = iptables-allports[name=custom, protocol=tcp]\\n' > {JAIL_EXTRA}"
             f" && {RC} restart", check=True, timeout=120)
    assert line_of(host, "one per address") == (
        "WARN", "the jails custom ban with fail2ban's iptables rules, one per address, though ipset is"
                " installed: run ./install again to keep their bans in ipsets")
    level, message = line_of(host, "do not carry")
    assert message.endswith("; the jails custom do not carry qmail-f2b-enforce.py, so their bans cut nothing:"
                            " run ./install again")
    replaced("/usr/sbin/ipset", "/dev/null")
    assert line_of(host, "one per address") == (
        "WARN", "the jails custom ban with fail2ban's iptables rules, one per address, since ipset is not"
                " installed: 5,000 bans take most of a minute to load and again at every start; install ipset"
                " and run ./install again")
