"""pyinotify, fail2ban's fast log backend, from the source release the admin saves beside fail2ban's.

pyinotify is never fetched. Where pyinotify-X.Y.Z.tar.gz lies in SOURCE_DIR (or is given with
--pyinotify-tarball), it is verified and unpacked like fail2ban's tarball and built with its own
setup.py into fail2ban's stage, so that the manifest places, upgrades and removes it with fail2ban.
It is built only for a Python that can run it, and only where that Python does not already import
a working pyinotify that is not ours: a distribution's package owns its copy, which ours must
neither overwrite (uninstall would then delete the package's file) nor sit beside unused.
"""

import os
from pathlib import Path

from installer.pipeline import build, tarball
from installer.pipeline.logwatch import pyinotify_file
from installer.pipeline.payload import Entry
from installer.pipeline.place import target_state
from installer.shared import releases
from installer.shared.errors import InstallerError
from installer.shared.fail2ban import python_env
from installer.shared.paths import SOURCE_DIR, under


def find(given, root, sha256_option=None):
    """The pyinotify tarball to use: --pyinotify-tarball, else the newest in SOURCE_DIR, else None."""
    if given:
        if not Path(given).is_file():
            raise InstallerError(f"--pyinotify-tarball {given}: no such file")
        return Path(given)
    found = tarball.find_newest(under(root, SOURCE_DIR), "pyinotify")
    if found is None and sha256_option:
        raise InstallerError(f"--pyinotify-sha256 given, but no pyinotify-X.Y.Z.tar.gz in {under(root, SOURCE_DIR)}:"
                             f" save {releases.PYINOTIFY_SOURCE_RELEASE} there or pass --pyinotify-tarball FILE")
    return found


def verify(path, folder, sha256_option=None):
    """The Received copy of pyinotify's tarball in `folder`, checked as fail2ban's is."""
    return tarball.verify(path, folder, sha256_option, option="--pyinotify-sha256",
                          published=releases.PYINOTIFY_PUBLISHED_SHA256,
                          publisher="PyPI")


def extract(received, path, into):
    """Unpack the source release from its Received copy safely and return its Source, the version its
    pyinotify.py states."""
    top = tarball.unpack(received, path, into, "pyinotify")
    version = tarball.stated_version(path, top, "pyinotify", "python3/pyinotify.py", "__version__")
    named = tarball.version_from_name(path, "pyinotify")
    if named and named != version:
        raise InstallerError(f"{Path(path).name} holds pyinotify {version}, not {named}")
    return tarball.Source(top, version)


def _staged_env(top, python):
    """The build environment with the Python's site folder under top first on its path."""
    return python_env(top, python.site_dir, build.build_env())


def _relative_under(path, top):
    """path relative to top as the manifest writes it, or None where path lies outside top."""
    relative = os.path.relpath(path, top)
    return None if relative == ".." or relative.startswith("../") else Path(relative).as_posix()


def foreign_pyinotify_file(python, root, staged, old):
    """The file of a working pyinotify that fail2ban's Python imports on the root and that no earlier run
    of ours placed as it is now; else None. A staged root is asked with its site folder first on the path,
    and what this machine's own Python has outside the root does not count."""
    env = _staged_env(root, python) if staged else build.build_env()
    found, _ = pyinotify_file(python.path, env)
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
    problem = releases.pyinotify_python_problem(python.version)
    if problem:
        return False, (f"{problem}: {tarball_path.name} is not used, and fail2ban polls its logs"
                       if tarball_path else None)
    theirs = foreign_pyinotify_file(python, root, staged, old)
    if theirs:
        return False, (f"{python.label} already imports a working pyinotify from {theirs}: fail2ban uses "
                       f"that one, and {tarball_path.name} is not used" if tarball_path else None)
    return True, None


def check(stage, python, version):
    """Insist that fail2ban's Python imports the built pyinotify from the stage and can use it."""
    found, reason = pyinotify_file(python.path, _staged_env(stage, python))
    if not found or _relative_under(found, stage) is None:
        said = reason or f"it imports {found} instead"
        raise InstallerError(f"the built pyinotify {version} does not work on {python.label}: {said}")
