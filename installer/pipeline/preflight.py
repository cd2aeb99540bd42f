"""Step 1: everything that can be known to fail before anything is unpacked or written."""

import os
import re
import shutil
from pathlib import Path

from installer.pipeline import download, tarball
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


RELEASE_FORM = re.compile(r"^\d+\.\d+\.\d+$")


def find_tarball(given, root, release=releases.NEWEST, sha256=None, mirror=None, download_into=None, quiet=False):
    """The fail2ban release to build: --tarball; else the release saved in the source folder under the
    name ./install or a browser gives it (or a newer one saved there); else downloaded into download_into
    (default: the source folder) and verified there before it takes its name."""
    if given:
        path = Path(given)
        if not path.is_file():
            raise InstallerError(f"--tarball {given}: no such file")
        return path
    if not RELEASE_FORM.match(release):
        raise InstallerError(f"--release {release}: give a release as X.Y.Z, e.g. {releases.NEWEST}")
    folder = under(root, SOURCE_DIR)
    for name in (releases.saved_name(release), releases.archive_name(release)):
        if (folder / name).is_file():
            return folder / name
    newest = tarball.find_newest(folder)
    if newest and releases.parse_version(tarball.version_from_name(newest)) > releases.parse_version(release):
        return newest
    if mirror:
        download.check_url(mirror)
    saved = folder / releases.saved_name(release)
    hint = f"save it as {saved} and run ./install again, or pass --tarball FILE"
    return download.fetch(releases.download_url(release, mirror), download_into or folder, saved.name,
                          # Checked in a folder beside the download, which goes with it.
                          lambda path: tarball.verify(path, Path(path).parent / "checked", sha256), hint,
                          quiet=quiet)


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
