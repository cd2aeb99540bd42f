"""The watchdog leaves fail2ban to an ./install run at work: an upgrade stops and starts the server
itself, and a start from cron between its stop and its start would run on the wrong database."""

import fcntl
import os

from installer.shared import paths
from installer.tool.watchdog import watchdog


class Server:
    """A client that records whether the watchdog asked it if the server answers."""

    def __init__(self, answers):
        self.answers = answers
        self.asked = False

    def is_running(self):
        self.asked = True
        return self.answers


def host_root(tmp_path):
    paths.under(tmp_path, paths.STATE_DIR).mkdir(parents=True)
    rc_script = paths.under(tmp_path, paths.RC_SCRIPT)
    rc_script.parent.mkdir(parents=True)
    rc_script.write_text("#!/bin/sh\nexit 1\n")
    rc_script.chmod(0o755)
    return tmp_path


def test_the_watchdog_does_nothing_while_install_holds_its_lock(tmp_path):
    root = host_root(tmp_path)
    with open(paths.under(root, paths.LOCK), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        client = Server(answers=False)
        report = watchdog(client, root)
    assert not client.asked
    assert report.data["action"] == "none"
    assert any("./install is at work" in line for line in report.lines)


def test_a_lock_file_nobody_holds_does_not_stop_the_watchdog(tmp_path):
    root = host_root(tmp_path)
    paths.under(root, paths.LOCK).write_text(f"{os.getpid()}\n")
    client = Server(answers=True)
    report = watchdog(client, root)
    assert client.asked and report.lines[0] == "fail2ban answers"
