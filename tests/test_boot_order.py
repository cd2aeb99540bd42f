"""The rc.local hook starts fail2ban after the admin's rc.firewall: Slackware's rc.inet2 runs that
before rc.local, and where the admin runs it from rc.local our line goes below theirs."""

from collections import defaultdict

from installer.pipeline import boot

START = "\n".join(boot.HOOKS[boot.RC_LOCAL])


class Transaction:
    """What add_hooks needs of the install's transaction: paths under a root, and writes."""

    def __init__(self, root):
        self.root = root

    def path(self, relative):
        return self.root / relative

    def write(self, relative, data, mode):
        target = self.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        target.chmod(mode)


def hooked(tmp_path, rc_local):
    path = tmp_path / boot.RC_LOCAL
    path.parent.mkdir(parents=True)
    path.write_text(rc_local)
    path.chmod(0o755)
    boot.add_hooks(Transaction(tmp_path), defaultdict(list, hooks={}, created=[]))
    return path.read_text()


def test_the_start_line_goes_at_the_end_after_the_admins_lines(tmp_path):
    text = hooked(tmp_path, "#!/bin/sh\n/usr/sbin/ntpd\n")
    assert text == f"#!/bin/sh\n/usr/sbin/ntpd\n{START}\n"


def test_a_firewall_script_run_after_our_line_gets_our_line_moved_below_it(tmp_path):
    firewall = "[ -x /etc/rc.d/rc.firewall ] && /etc/rc.d/rc.firewall start"
    text = hooked(tmp_path, f"#!/bin/sh\n{START}\n{firewall}\n/usr/sbin/ntpd\n")
    assert text == f"#!/bin/sh\n{firewall}\n/usr/sbin/ntpd\n{START}\n"


def test_a_firewall_script_run_before_our_line_or_in_a_comment_changes_nothing(tmp_path):
    before = f"#!/bin/sh\n/etc/rc.d/rc.firewall start\n{START}\n# /etc/rc.d/rc.firewall restart\n"
    assert hooked(tmp_path, before) == before
