"""The distribution's packages the fleet's role needs (crowdsec, crowdsec-firewall-bouncer), installed with
apt-get where the host has it and recorded in the manifest, so that --uninstall removes them again.

Where the host has no apt-get (Slackware has no package of them), ./install names what is missing and
changes nothing. Before crowdsec installs, CROWDSEC_OFFLINE says "no thanks": its postinst then neither
registers with CrowdSec's Central API nor reaches for the network.
"""

import os
from pathlib import Path

from installer.shared import paths
from installer.shared.errors import InstallerError
from installer.shared.run import run

OFFLINE_TEXT = "# no thanks\n"
APT_TIMEOUT = 600


def can_install(root):
    return paths.is_host_root(root) and os.access(paths.APT_GET, os.X_OK)


def _environment():
    return {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}


def install(packages):
    """apt-get install packages; whether this wrote the offline file (it is ours to remove then)."""
    offline = Path(paths.CROWDSEC_OFFLINE)
    wrote = False
    if "crowdsec" in packages and not offline.exists():
        offline.parent.mkdir(parents=True, exist_ok=True)
        offline.write_text(OFFLINE_TEXT)
        wrote = True
    try:
        run([paths.APT_GET, "install", "-y", "-q", "--no-install-recommends", *packages], env=_environment(),
            timeout=APT_TIMEOUT, what=f"apt-get install {' '.join(packages)}")
    except InstallerError:
        remove(packages, wrote)
        raise
    return wrote


def remove(packages, offline_is_ours):
    """apt-get purge packages (best effort for the ones already gone), and the offline file if ours."""
    if packages:
        run([paths.APT_GET, "purge", "-y", "-q", *packages], env=_environment(), timeout=APT_TIMEOUT,
            check=False, what=f"apt-get purge {' '.join(packages)}")
    offline = Path(paths.CROWDSEC_OFFLINE)
    if offline_is_ours and offline.is_file() and offline.read_text() == OFFLINE_TEXT:
        offline.unlink()
    for folder in (offline.parent, Path("/var/lib/crowdsec")):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
