"""The fleet daemon (`qmail-f2b fleet serve`, started by rc.qmail-f2b-fleet): keeps the firewall bouncer
running, and on the lapi host the Local API, restarting either when it ends (the bouncer ends, with
status 0, when the LAPI does not answer as it starts), and publishes the bans fail2ban queued.

On SIGTERM it stops the bouncer first, which takes its rule and sets away, then the LAPI.
"""

import ctypes
import os
import signal
import subprocess
import time
from pathlib import Path

from installer.fleet import bouncer, credentials, crowdsec, spool
from installer.fleet.lapi import Lapi, Unreachable
from installer.shared import paths
from installer.shared.errors import InstallerError

# How often the spool is looked at: a ban waits at most this long before it is sent.
SPOOL_EVERY = 0.1
# A program that ends is started again after FIRST_RESTART s, doubling up to LAST_RESTART s while it
# keeps ending within STEADY s.
FIRST_RESTART, LAST_RESTART, STEADY = 1.0, 30.0, 60.0
# Sending again after the LAPI did not answer: from 1 s, doubling up to 10 s.
FIRST_RETRY, LAST_RETRY = 1.0, 10.0
STOP_WAIT = 15
PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
PR_SET_PDEATHSIG = 1


def _end_with_parent():
    """In the child before exec: SIGTERM when the daemon dies, even by SIGKILL, so that a daemon started
    again never finds a bouncer or LAPI of the one before still running (the bouncer cleans up on it)."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def say(line):
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} qmail-f2b fleet: {line}", flush=True)


class Supervised:
    """A program kept running: started again, later each time, when it ends."""

    def __init__(self, name, argv):
        self.name, self.argv = name, argv
        self.process, self.started, self.delay, self.next_start = None, 0.0, FIRST_RESTART, 0.0

    def tend(self, now):
        if self.process is not None:
            status = self.process.poll()
            if status is None:
                return
            self.delay = FIRST_RESTART if now - self.started > STEADY else min(self.delay * 2, LAST_RESTART)
            self.next_start = now + self.delay
            say(f"{self.name} ended with status {status}; starting it again in {self.delay:.0f} s")
            self.process = None
        if now >= self.next_start:
            self.process = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, env={**os.environ, "PATH": PATH},
                                            preexec_fn=_end_with_parent)
            self.started = now
            say(f"started {self.name} (pid {self.process.pid})")

    def stop(self):
        if self.process is None or self.process.poll() is not None:
            return
        end(self.process)
        say(f"stopped {self.name}")


def end(process, wait=STOP_WAIT):
    """SIGTERM, and SIGKILL after wait seconds."""
    process.terminate()
    try:
        process.wait(wait)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class Stop(Exception):
    pass


def _stop(signum, frame):
    raise Stop()


def _claim_pidfile():
    Path(paths.FLEET_RUN_DIR).mkdir(mode=0o700, parents=True, exist_ok=True)
    pidfile = Path(paths.FLEET_PIDFILE)
    try:
        other = int(pidfile.read_text().strip())
        os.kill(other, 0)
        if other != os.getpid():
            raise InstallerError(f"the fleet daemon already runs (pid {other})")
    except (OSError, ValueError):
        pass
    pidfile.write_text(f"{os.getpid()}\n")
    return pidfile


def serve(fleet, never_banned):
    """Runs until SIGTERM or SIGINT; returns the exit status. never_banned: the networks the bouncer
    must never drop here (the fleet's and this host's ignoreip)."""
    password, key = credentials.own(fleet)
    crowdsec.check_programs(fleet)
    pidfile = _claim_pidfile()
    bouncer.install_guard(never_banned)
    programs = []
    if fleet.runs_lapi:
        programs.append(Supervised("the Local API", [crowdsec.program(crowdsec.LAPI), "-c", paths.LAPI_CONFIG,
                                                     "-no-cs"]))
    programs.append(Supervised("the firewall bouncer", [crowdsec.program(bouncer.PROGRAM), "-c",
                                                        bouncer.write_config(fleet, key)]))
    Path(paths.FLEET_SPOOL).mkdir(mode=0o700, parents=True, exist_ok=True)
    sender = spool.Sender(paths.FLEET_SPOOL, fleet, Lapi(fleet.lapi_url, fleet.name, password, key), say)
    retry_at, retry_delay, reported = 0.0, FIRST_RETRY, None
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    say(f"serving {fleet.name} ({fleet.role}) with the Local API at {fleet.lapi_url}")
    try:
        while True:
            now = time.monotonic()
            for program in programs:
                program.tend(now)
            if now >= retry_at and spool.pending(paths.FLEET_SPOOL):
                try:
                    sender.send_all()
                    retry_delay, reported = FIRST_RETRY, None
                except (InstallerError, OSError) as error:
                    retry_at = now + retry_delay
                    retry_delay = min(retry_delay * 2, LAST_RETRY)
                    if str(error) != reported:
                        say(f"{error}; {len(spool.pending(paths.FLEET_SPOOL))} bans wait, sent again"
                            " when it answers" if isinstance(error, Unreachable) else f"{error}; sent again later")
                        reported = str(error)
            time.sleep(SPOOL_EVERY)
    except Stop:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for program in reversed(programs):
            program.stop()
        bouncer.remove_guard()
        pidfile.unlink(missing_ok=True)
        say("stopped")
    return 0


def running_pid():
    """The fleet daemon's pid where it runs, else None."""
    try:
        pid = int(Path(paths.FLEET_PIDFILE).read_text().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None
