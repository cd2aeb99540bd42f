"""Step 1: everything that can be known to fail before anything is unpacked or written."""

import importlib.util
import os
import shutil
from pathlib import Path

from installer.pipeline import tarball
from installer.shared import releases
from installer.shared.errors import InstallerError
from installer.shared.paths import SOURCE_DIR, under

NEEDED_FREE_BYTES = 100 * 1024 * 1024


def check_root_folder(root, staged):
    if staged and root.exists() and not root.is_dir():
        raise InstallerError(f"--root {root} is not a folder: give a folder to stage into")
    if not staged and os.geteuid() != 0:
        raise InstallerError("./install must run as root to write /etc and /usr: run it as root, "
                             "or stage everything into a folder with --root DIR")


def check_configobj():
    if importlib.util.find_spec("configobj") is None:
        raise InstallerError("the Python module configobj is missing: install it (python3 -m pip install "
                             "configobj, or your distribution's python3-configobj) and run ./install again")


def find_tarball(given, root):
    if given:
        path = Path(given)
        if not path.is_file():
            raise InstallerError(f"--tarball {given}: no such file")
        return path
    folder = under(root, SOURCE_DIR)
    newest = tarball.find_newest(folder)
    if newest is None:
        raise InstallerError(f"no fail2ban-X.Y.Z.tar.gz given and none in {folder}: {releases.DOWNLOAD_HINT}")
    return newest


def check_free_space(root, scratch):
    existing = root
    while not existing.exists():
        existing = existing.parent
    for place in {existing, Path(scratch)}:
        free = shutil.disk_usage(place).free
        if free < NEEDED_FREE_BYTES:
            raise InstallerError(f"only {free // (1024 * 1024)} MB free in {place}: "
                                 f"fail2ban needs {NEEDED_FREE_BYTES // (1024 * 1024)} MB; free some space")


def check_firewall_tools():
    """A live host must have a firewall tool, or every ban would fail."""
    if not (shutil.which("iptables") or shutil.which("nft")):
        raise InstallerError("neither iptables nor nft is installed, so fail2ban could not ban anyone: "
                             "install iptables (or nftables) first")
