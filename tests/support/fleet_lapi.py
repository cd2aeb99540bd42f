"""The fleet's scenarios against a real CrowdSec Local API, run inside a network namespace of their own.

tests/test_fleet_lapi.py starts this as `unshare --net --pid --fork python -m tests.support.fleet_lapi WORKDIR NS`:
the LAPI listens on 127.0.0.1 of that namespace only, and every process it starts dies with it. All
scenarios share one LAPI start (a start and a stop cost most of the time); each scenario uses addresses
of its own, so that one's decisions do not show in another's. What each saw goes out as one JSON object.
"""

import ipaddress
import itertools
import json
import os
import socket
import subprocess
import sys
import time
import traceback
from pathlib import Path

from installer.fleet import credentials, crowdsec, daemon, lapi, spool
from installer.shared import paths
from installer.shared.addresses import LOOPBACK
from installer.shared.errors import InstallerError
from installer.siteconf.settings import Fleet

ADDRESS, PORT = "127.0.0.1", 8080
URL = f"http://{ADDRESS}:{PORT}"
SECRETS = {"mx1": ("password-of-mx1-0123", "bouncer-key-of-mx1-0123"),
           "mx2": ("password-of-mx2-4567", "bouncer-key-of-mx2-4567")}
IGNOREIP = ("203.0.113.200", "192.0.2.128/25")
START_WAIT, STOP_WAIT = 15, 10
_SEQUENCE = itertools.count()


def network_namespace():
    return os.readlink("/proc/self/ns/net")


class Lab:
    def __init__(self, workdir):
        self.workdir = Path(workdir)
        self.log = open(self.workdir / "lapi.log", "ab")
        self.process = None
        folder = self.workdir / "fleet"
        folder.mkdir(mode=0o700)
        folder.chmod(0o700)
        for name, (password, key) in SECRETS.items():
            for kind, secret in ((credentials.PASSWORD, password), (credentials.BOUNCER_KEY, key)):
                path = folder / f"{name}.{kind}"
                path.write_text(secret + "\n")
                path.chmod(0o600)
        self.fleets = {name: Fleet(role="lapi" if name == "mx1" else "member", name=name, lapi_url=URL,
                                   credentials=str(folder), ignoreip=LOOPBACK + IGNOREIP) for name in SECRETS}
        # The LAPI's configuration as ./install writes it, with its folders in the work folder.
        paths.LAPI_CONFIG_DIR = str(self.workdir / "crowdsec")
        paths.LAPI_CONFIG = f"{paths.LAPI_CONFIG_DIR}/lapi.yaml"
        paths.LAPI_PROFILES = f"{paths.LAPI_CONFIG_DIR}/profiles.yaml"
        paths.LAPI_DATA = str(self.workdir / "data")
        paths.LAPI_REGISTERED = str(self.workdir / "registered.json")
        Path(paths.LAPI_CONFIG_DIR).mkdir()
        Path(paths.LAPI_CONFIG).write_text(crowdsec.config_text(self.fleets["mx1"]))
        Path(paths.LAPI_PROFILES).write_text(crowdsec.PROFILES_TEXT)

    def start(self):
        self.process = subprocess.Popen([crowdsec.program(crowdsec.LAPI), "-c", paths.LAPI_CONFIG, "-no-cs"],
                                        stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + START_WAIT
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                socket.create_connection((ADDRESS, PORT), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"the LAPI did not listen within {START_WAIT} s (status {self.process.poll()})")

    def stop(self):
        if self.process is None:
            return
        daemon.end(self.process, STOP_WAIT)
        self.process = None

    def spool(self, name):
        folder = self.workdir / "spool" / name
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        return folder

    def connect(self, host="mx1", password=None, key=None):
        own_password, own_key = SECRETS[host]
        return lapi.Lapi(URL, host, password or own_password, key or own_key)

    def sender(self, folder, host="mx1", connection=None):
        said = []
        return spool.Sender(folder, self.fleets[host], connection or self.connect(host), said.append), said

    def decisions(self, *values):
        """The decisions in force on exactly these values, as the bouncers see them."""
        found = self.connect().decisions()
        return sorted(({key: decision[key] for key in ("value", "scenario", "scope", "duration", "origin")}
                       for decision in found if decision["value"] in values),
                      key=lambda decision: (decision["value"], decision["scenario"]))


def queue(folder, jail, ip, bantime, name=None):
    """A ban in the spool, as action.d/qmail-f2b-fleet.py writes it."""
    name = name or "%d-%d-%d.json" % (time.time_ns(), os.getpid(), next(_SEQUENCE))
    path = Path(folder) / name
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump({"jail": jail, "ip": ip, "bantime": bantime, "at": time.time()}, handle)
    return path


def left(folder):
    return sorted(os.listdir(folder))


def attempt(call):
    """What call returned, or the class and text of the error it raised."""
    try:
        return {"returned": call()}
    except Exception as error:
        return {"raised": type(error).__name__, "message": str(error),
                "installer_error": isinstance(error, InstallerError),
                "unreachable": isinstance(error, lapi.Unreachable)}


def before_start(lab):
    """The LAPI is not there yet: nothing goes, everything waits."""
    folder = lab.spool("down")
    queue(folder, "dovecot", "203.0.113.12", 600)
    queue(folder, "dovecot", "203.0.113.13", 600)
    sender, said = lab.sender(folder)
    return {"send": attempt(sender.send_all), "left": left(folder), "said": said}


def registered(lab):
    return {"first": crowdsec.register(lab.fleets["mx1"]), "again": crowdsec.register(lab.fleets["mx1"])}


def after_start(lab):
    folder = lab.spool("down")
    sender, said = lab.sender(folder)
    first = attempt(sender.send_all)
    second = attempt(sender.send_all)
    return {"send": first, "again": second, "left": left(folder), "said": said,
            "decisions": lab.decisions("203.0.113.12", "203.0.113.13")}


def publish_once(lab):
    folder = lab.spool("once")
    queue(folder, "dovecot", "203.0.113.10", 600)
    queue(folder, "custom", "198.51.100.0/24", 3600)
    queue(folder, "qmail-smtp", "2001:db8::66", -1)
    sender, said = lab.sender(folder)
    return {"send": attempt(sender.send_all), "left": left(folder), "said": said,
            "decisions": lab.decisions("203.0.113.10", "198.51.100.0/24", "2001:db8::66")}


def no_duplicates(lab):
    """The ban a sender sent, back in the spool as when it was killed before removing the file."""
    folder = lab.spool("once")
    queue(folder, "dovecot", "203.0.113.10", 600)
    sender, said = lab.sender(folder)
    return {"send": attempt(sender.send_all), "left": left(folder), "said": said,
            "decisions": lab.decisions("203.0.113.10")}


IGNORED = ("203.0.113.200", "192.0.2.130", "192.0.2.0/24", "127.0.0.2", "::1")


def ignored(lab):
    folder = lab.spool("ignored")
    for ip in IGNORED:
        queue(folder, "dovecot", ip, 600)
    queue(folder, "dovecot", "203.0.113.201", 600)
    sender, said = lab.sender(folder)
    return {"send": attempt(sender.send_all), "left": left(folder), "said": said,
            "decisions": lab.decisions(*IGNORED, "203.0.113.201")}


def damaged(lab):
    """Damaged files first in the spool's order, then a good one."""
    folder = lab.spool("damaged")
    (folder / "1-not-json.json").write_text("{\"jail\": \"dovecot\", \"ip\": ")
    (folder / "2-no-ip.json").write_text(json.dumps({"jail": "dovecot", "bantime": 600}))
    queue(folder, "../../etc", "203.0.113.11", 600, name="3-bad-jail.json")
    queue(folder, "dovecot", "203.0.113.11", 0, name="4-no-bantime.json")
    queue(folder, "dovecot", "not-an-address", 600, name="5-bad-ip.json")
    queue(folder, "dovecot", "203.0.113.11", 600, name="6-good.json")
    sender, said = lab.sender(folder)
    return {"send": attempt(sender.send_all), "left": left(folder), "said": said,
            "decisions": lab.decisions("203.0.113.11")}


def restarted(lab):
    """The LAPI stops and comes back while a sender (as the fleet daemon's, one for its life) goes on."""
    folder = lab.spool("restart")
    sender, said = lab.sender(folder)
    queue(folder, "dovecot", "203.0.113.14", 600)
    before = attempt(sender.send_all)
    lab.stop()
    queue(folder, "dovecot", "203.0.113.15", 600)
    queue(folder, "dovecot", "203.0.113.16", 600)
    while_down = attempt(sender.send_all)
    left_while_down = left(folder)
    lab.start()
    after = attempt(sender.send_all)
    again = attempt(sender.send_all)
    return {"before": before, "while_down": while_down, "left_while_down": left_while_down,
            "after": after, "again": again, "left": left(folder), "said": said,
            "decisions": lab.decisions("203.0.113.14", "203.0.113.15", "203.0.113.16")}


def lifted(lab):
    """Both hosts publish the same addresses; one lifts its own decision, then every host's."""
    for host in ("mx1", "mx2"):
        folder = lab.spool(f"lift-{host}")
        queue(folder, "dovecot", "203.0.113.30", 600)
        queue(folder, "qmail-smtp", "203.0.113.31", 600)
        lab.sender(folder, host)[0].send_all()
    published = lab.decisions("203.0.113.30", "203.0.113.31")
    mx1 = lab.connect("mx1")
    own = mx1.lift_own(ipaddress.ip_network("203.0.113.30/32"))
    after_own = lab.decisions("203.0.113.30")
    fleet_wide = mx1.lift(ipaddress.ip_network("203.0.113.31/32"))
    after_fleet_wide = lab.decisions("203.0.113.31")
    return {"published": published, "own": own, "after_own": after_own, "fleet_wide": fleet_wide,
            "after_fleet_wide": after_fleet_wide}


def lifted_exactly(lab):
    """An address lifted inside a range that is banned too, by the same host: the range stays."""
    folder = lab.spool("exact")
    queue(folder, "dovecot", "192.0.2.64/26", 600)
    queue(folder, "dovecot", "192.0.2.70", 600)
    queue(folder, "dovecot", "192.0.2.71", 600)
    lab.sender(folder, "mx2")[0].send_all()
    mx2 = lab.connect("mx2")
    own = attempt(lambda: mx2.lift_own(ipaddress.ip_network("192.0.2.71/32")))
    after_own = lab.decisions("192.0.2.64/26", "192.0.2.70", "192.0.2.71")
    fleet_wide = attempt(lambda: mx2.lift(ipaddress.ip_network("192.0.2.70/32")))
    after_fleet_wide = lab.decisions("192.0.2.64/26", "192.0.2.70", "192.0.2.71")
    return {"own": own, "after_own": after_own, "fleet_wide": fleet_wide, "after_fleet_wide": after_fleet_wide}


def refused(lab):
    folder = lab.spool("refused")
    queue(folder, "dovecot", "203.0.113.40", 600)
    wrong_password = lab.connect("mx1", password="not-the-password-0123")
    sender, said = lab.sender(folder, connection=wrong_password)
    return {"password": attempt(wrong_password.login),
            "unknown_machine": attempt(lapi.Lapi(URL, "mx9", "password-of-mx9-0123").login),
            "bouncer_key": attempt(lab.connect("mx1", key="not-the-bouncer-key-0123").decisions),
            "send": attempt(sender.send_all), "left": left(folder), "said": said}


def one_refused(lab):
    """A ban the LAPI will not take (a time beyond what its durations hold): set aside, the next one goes."""
    folder = lab.spool("one-refused")
    queue(folder, "dovecot", "203.0.113.41", 10**10, name="1-too-long.json")
    queue(folder, "dovecot", "203.0.113.42", 600, name="2-good.json")
    sender, said = lab.sender(folder)
    return {"send": attempt(sender.send_all), "left": left(folder), "said": said,
            "decisions": lab.decisions("203.0.113.41", "203.0.113.42")}


SCENARIOS = (after_start, publish_once, no_duplicates, ignored, damaged, restarted, lifted,
             lifted_exactly, refused, one_refused)


def run(workdir):
    lab = Lab(workdir)
    results = {}
    try:
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        # cscli works on the database alone: the machines and bouncers are there before the LAPI starts.
        results["registered"] = attempt(lambda: registered(lab))
        results["before_start"] = attempt(lambda: before_start(lab))
        started = time.monotonic()
        lab.start()
        results["start_seconds"] = time.monotonic() - started
        for scenario in SCENARIOS:
            try:
                results[scenario.__name__] = scenario(lab)
            except Exception:
                results[scenario.__name__] = {"crashed": traceback.format_exc()}
    finally:
        lab.stop()
        lab.log.close()
    return results


def main():
    """WORKDIR, and the network namespace of whoever started it, which must not be this one."""
    workdir, starters = sys.argv[1:]
    if network_namespace() == starters:
        sys.exit("refusing to run: start it under unshare --net, never in the host's own network")
    print(json.dumps(run(workdir)))


if __name__ == "__main__":
    main()
