"""pyinotify, fail2ban's fast log backend, from the source release the admin saves beside fail2ban's.

The installer fetches nothing. Where pyinotify-X.Y.Z.tar.gz lies in /usr/local/src (or is given with
--pyinotify-tarball), it is verified and unpacked like fail2ban's tarball and built with its own
setup.py into fail2ban's stage, so that the manifest places, upgrades and removes it with fail2ban.
It is built only for a Python that can run it, and only where that Python does not already import
a working pyinotify that is not ours: a distribution's package owns its copy, which ours must
neither overwrite (uninstall would then delete the package's file) nor sit beside unused.
"""

import os
import re
from pathlib import Path

from installer import backend, build, tarball
from installer.errors import InstallerError
from installer.payload import Entry, SOURCE_DIR
from installer.place import target_state

NEWEST = "0.9.6"
SOURCE_RELEASE = f"pyinotify-{NEWEST}.tar.gz"

# sha256 of the source releases PyPI publishes. Only digests checked against PyPI's own file belong here.
PUBLISHED_SHA256 = {
    "9c998a5d7606ca835065cdabc013ae6c66eb9ea76a00a1e3bc6e0cfe2b4f71f4": "0.9.6",
}


def find(given, root, sha256_option=None):
    """The pyinotify tarball to use: --pyinotify-tarball, else the newest in /usr/local/src, else None."""
    if given:
        if not Path(given).is_file():
            raise InstallerError(f"--pyinotify-tarball {given}: no such file")
        return Path(given)
    found = tarball.find_newest(Path(root) / SOURCE_DIR, "pyinotify")
    if found is None and sha256_option:
        raise InstallerError(f"--pyinotify-sha256 given, but no pyinotify-X.Y.Z.tar.gz in {Path(root) / SOURCE_DIR}: "
                             f"save {SOURCE_RELEASE} there or pass --pyinotify-tarball FILE")
    return found


def verify(path, sha256_option=None):
    return tarball.verify(path, sha256_option, option="--pyinotify-sha256", published=PUBLISHED_SHA256,
                          publisher="PyPI")


def extract(path, into):
    """Unpack the source release safely and return its Source, the version its pyinotify.py states."""
    top = tarball.unpack(path, into, "pyinotify")
    module = top / "python3" / "pyinotify.py"
    if not (top / "setup.py").is_file() or not module.is_file():
        raise InstallerError(f"{path} is not a pyinotify source release: it has no setup.py "
                             "and python3/pyinotify.py in its top folder")
    match = re.search(r'^__version__\s*=\s*["\']([^"\']+)["\']', module.read_text(errors="replace"), re.M)
    if not match:
        raise InstallerError(f"pyinotify.py in {path} states no version")
    named = tarball.version_from_name(path, "pyinotify")
    if named and named != match.group(1):
        raise InstallerError(f"{Path(path).name} holds pyinotify {match.group(1)}, not {named}")
    return tarball.Source(top, match.group(1))


def python_problem(version):
    """Why pyinotify cannot run on a Python (a (major, minor) tuple), or None."""
    if tuple(version) >= (3, 12):
        return f"pyinotify cannot run on Python {version[0]}.{version[1]} (it needs asyncore, removed in 3.12)"
    return None


def _env_with_site_dir_under(top, python):
    """The build environment with the Python's site folder under top first on its path."""
    return dict(build.build_env(), PYTHONDONTWRITEBYTECODE="1",
                PYTHONPATH=str(Path(top) / python.site_dir.lstrip("/")))


def _relative_under(path, top):
    """path relative to top as the manifest writes it, or None where path lies outside top."""
    relative = os.path.relpath(path, top)
    return None if relative == ".." or relative.startswith("../") else Path(relative).as_posix()


def someone_elses(python, root, staged, old):
    """The file of a working pyinotify that fail2ban's Python imports on the root and that no earlier run
    of ours placed as it is now; else None. A staged root is asked with its site folder first on the path,
    and what this machine's own Python has outside the root does not count."""
    env = _env_with_site_dir_under(root, python) if staged else build.build_env()
    found, _ = backend.working_pyinotify(python.path, env)
    if not found:
        return None
    relative = _relative_under(found, root)
    if relative is None:
        return None
    record = old["files"].get(relative)
    if record and target_state(found) == ("file", record["sha256"]):
        return None
    return found


def earlier_record(old):
    return old["release"].get("pyinotify")


def kept_entries(root, old, python):
    """The files of the pyinotify an earlier run placed, as they are: placed again when its tarball has
    gone, so a re-run changes nothing. Empty unless every one is still as we wrote it, for this Python."""
    record = earlier_record(old)
    if not record:
        return []
    site_dir = python.site_dir.strip("/") + "/"
    entries = []
    for relative in record["files"]:
        written = old["files"].get(relative)
        path = Path(root) / relative
        if (not relative.startswith(site_dir) or not written
                or target_state(path) != ("file", written["sha256"])):
            return []
        entries.append(Entry(relative, "file", path.read_bytes(), int(written["mode"], 8)))
    return entries


def usable(python, root, staged, old, tarball_path):
    """(whether this run may place our pyinotify for fail2ban's Python, a one-line note for the admin
    where the tarball goes unused or None)."""
    if not tarball_path and not earlier_record(old):
        return False, None
    problem = python_problem(python.version)
    if problem:
        return False, (f"{problem}: {tarball_path.name} is not used, and fail2ban polls its logs"
                       if tarball_path else None)
    theirs = someone_elses(python, root, staged, old)
    if theirs:
        return False, (f"{python.label} already imports a working pyinotify from {theirs}: fail2ban uses "
                       f"that one, and {tarball_path.name} is not used" if tarball_path else None)
    return True, None


def check(stage, python, version):
    """Insist that fail2ban's Python imports the built pyinotify from the stage and can use it."""
    found, reason = backend.working_pyinotify(python.path, _env_with_site_dir_under(stage, python))
    if not found or _relative_under(found, stage) is None:
        said = reason or f"it imports {found} instead"
        raise InstallerError(f"the built pyinotify {version} does not work on {python.label}: {said}")
