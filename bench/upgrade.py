"""Upgrade of a running server holding 5,000 bans: how long ./install takes, and how long the host has no server.

On the manual-ban jail [custom] of a real install in a throwaway host, 5,000 bans (ban_scale's blocklist),
then ./install of another release made from the fixture (the same code labelled 1.0.3), which restarts
on it and checks that every ban is back in fail2ban and in the firewall. The time without a server is the
longest run of failed `fail2ban-client ping`s, polled from outside while the upgrade runs. The reference:
the same polling around a bare `rc.fail2ban restart` of the old release with the same bans (what an admin
did by hand after an upgrade that only placed files).
"""

import os
import re
import tempfile
import threading
import time

from bench.ban_scale import ADDRESSES, blocklist
from bench.common import Figure, bench_host, tarball, wait_until
from tests.fixture.variants import with_version
from tests.support.install import install_on

UPGRADE_TO = "1.0.3"
BAN_TIMEOUT = 300


class Outage:
    """Pings the server in a loop while a command runs; the longest stretch it did not answer."""

    def __init__(self, host):
        self.host = host
        self.running = True
        self.longest = 0.0
        self.thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self):
        silent_since = None
        while self.running:
            answered = self.host.run("fail2ban-client ping", timeout=30).returncode == 0
            now = time.monotonic()
            if answered and silent_since is not None:
                self.longest = max(self.longest, now - silent_since)
                silent_since = None
            elif not answered and silent_since is None:
                silent_since = now
        if silent_since is not None:
            self.longest = max(self.longest, time.monotonic() - silent_since)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.running = False
        self.thread.join(timeout=60)


def custom_bans(host):
    """How many bans the custom jail holds now (0 while no server answers)."""
    result = host.run("fail2ban-client status custom", timeout=60)
    found = re.search(r"Currently banned:\s*(\d+)", result.stdout) if result.returncode == 0 else None
    return int(found.group(1)) if found else 0


def run(progress=print):
    with tempfile.TemporaryDirectory(prefix="qf2b-bench-upgrade-") as scratch, bench_host() as host:
        os.chmod(scratch, 0o755)
        newer = with_version(tarball(), scratch, UPGRADE_TO)
        host.run("/etc/rc.d/rc.fail2ban start", check=True, timeout=120)
        addresses = blocklist(ADDRESSES)
        listing = os.path.join(scratch, "blocklist")
        with open(listing, "w") as stream:
            stream.write("\n".join(addresses) + "\n")
        progress(f"upgrade: banning {len(addresses):,} addresses")
        host.run(f"xargs fail2ban-client set custom banip < {listing} > /dev/null", check=True, timeout=BAN_TIMEOUT)
        if not wait_until(lambda: custom_bans(host) >= len(addresses), BAN_TIMEOUT, interval=1):
            raise RuntimeError(f"fail2ban holds {custom_bans(host)} of {len(addresses)} bans")
        progress("upgrade: rc.fail2ban restart of the old release (the reference)")
        with Outage(host) as restart_outage:
            time.sleep(0.5)
            host.run("/etc/rc.d/rc.fail2ban restart", check=True, timeout=300)
            wait_until(lambda: custom_bans(host) >= len(addresses), BAN_TIMEOUT, interval=0.5)
        progress(f"upgrade: ./install of {UPGRADE_TO}")
        with Outage(host) as upgrade_outage:
            time.sleep(0.5)
            started = time.monotonic()
            install_on(host, newer, "--yes", "--quiet", timeout=900)
            upgrade = time.monotonic() - started
        version = host.run("fail2ban-client -V", check=True).stdout.strip().split()[-1]
        kept = custom_bans(host)
    if version != UPGRADE_TO or kept < len(addresses):
        raise RuntimeError(f"after the upgrade fail2ban {version} holds {kept} of {len(addresses)} bans")
    label = f"{len(addresses):,} bans, ./install"
    figures = [
        Figure(f"upgrade of a running server with {len(addresses):,} bans", upgrade, None, "s",
               "build, place, -t, restart, every ban checked in fail2ban and the firewall"),
        Figure("no server during the upgrade", upgrade_outage.longest, restart_outage.longest, "s", label,
               "rc.fail2ban restart by hand"),
    ]
    notes = [f"One throwaway host; the bans given to `fail2ban-client set custom banip` (ban_scale's blocklist)."
             f" The upgrade is ./install --tarball fail2ban-{UPGRADE_TO}.tar.gz (the fixture relabelled)."
             " No server: the longest stretch of failed `fail2ban-client ping`s, polled back to back from outside"
             " (each ping about 0.1 s, the resolution). The upgrade stops the server only inside its"
             " `rc.fail2ban restart` (step 9), which restores every ban from the database."]
    return figures, notes
