"""The record of what the installer wrote on a host, so a re-run, an upgrade and uninstall know what is ours.

Stored as JSON at paths.MANIFEST under the root:
  files:   path -> {"sha256": digest as we wrote it, "mode": octal string}
  links:   path -> link target
  dirs:    folders we created (removed on uninstall when empty)
  logs:    empty log files we created where a service will write (removed on uninstall while still empty)
  hooks:   file -> the lines we added to it (rc.local, rc.local_shutdown)
  created: files we created whole that hold hooks (removed on uninstall when only their header is left)
  previous: the release kept under paths.PREVIOUS_DIR for --rollback (version, sha256), whose files are
            recorded in files like any other of ours
  release: what was built: version, tarball digest, interpreter (path, site_dir and its minor version,
           python_version "3.11"), and pyinotify's version, digest and files
  packages: the distribution's packages the installer installed with apt-get (names), and whether it
            wrote CrowdSec's offline file (offline_file); uninstall purges them
"""

import json
import os
import re

from installer.shared.errors import InstallerError
from installer.shared.paths import MANIFEST, relative, under

LOCATION = relative(MANIFEST)
# As oct() writes a mode, and as a re-run reads it back with int(mode, 8).
OCTAL_MODE = re.compile(r"0o[0-7]{1,4}")
# A Debian package's name, as apt-get is given it: no option, no path.
PACKAGE_NAME = re.compile(r"[a-z0-9][a-z0-9+.-]{1,62}")


def empty():
    return {"files": {}, "links": {}, "dirs": [], "logs": [], "hooks": {}, "created": [], "release": {},
            "packages": {"names": [], "offline_file": False}}


def load(root):
    path = under(root, MANIFEST)
    if not path.exists():
        return empty()
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise InstallerError(f"{path} is unreadable ({error}): move it aside to start afresh") from None
    problem = problem_of(root, data)
    if problem:
        raise InstallerError(f"{path} is damaged ({problem}): move it aside to start afresh")
    manifest = empty()
    manifest.update(data)
    return manifest


def problem_of(root, data):
    """What is wrong with a manifest's data read from JSON, or None."""
    return _shape_problem(data) or _path_problem(root, data)


def _is_text_list(value):
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _shape_problem(data):
    """What is of the wrong shape in a manifest, or None: uninstall trusts every value's type."""
    if not isinstance(data, dict):
        return "not a JSON object"
    for key in ("files", "links", "hooks", "release", "previous"):
        if not isinstance(data.get(key, {}), dict):
            return f"{key} is not an object"
    for key in ("dirs", "logs", "created"):
        if not _is_text_list(data.get(key, [])):
            return f"{key} is not a list of paths"
    for name, record in data.get("files", {}).items():
        if not (isinstance(record, dict) and isinstance(record.get("sha256"), str)
                and isinstance(record.get("mode"), str) and OCTAL_MODE.fullmatch(record["mode"])):
            return f"the record of {name!r} has no sha256 and mode"
    for name, target in data.get("links", {}).items():
        if not isinstance(target, str):
            return f"the link {name!r} has no target"
    for name, lines in data.get("hooks", {}).items():
        if not _is_text_list(lines):
            return f"the hook lines of {name!r} are not a list of lines"
    packages = data.get("packages", {"names": [], "offline_file": False})
    if not (isinstance(packages, dict) and _is_text_list(packages.get("names"))
            and all(PACKAGE_NAME.fullmatch(name) for name in packages["names"])
            and isinstance(packages.get("offline_file"), bool)):
        return "packages is not a list of package names and an offline_file flag"
    pyinotify = data.get("release", {}).get("pyinotify")
    if pyinotify is not None and not (isinstance(pyinotify, dict) and _is_text_list(pyinotify.get("files"))):
        return "release.pyinotify has no list of files"
    return None


def built_python_version(release):
    """The (major, minor) of the Python a recorded release was built for, or None where the manifest does
    not say: python_version, else the version a site folder names (/usr/lib/python3.11/site-packages; Debian's
    /usr/lib/python3/dist-packages names none)."""
    recorded = release.get("python_version")
    found = re.fullmatch(r"(\d+)\.(\d+)", recorded) if isinstance(recorded, str) else None
    found = found or re.search(r"/python(\d+)\.(\d+)/", str(release.get("site_dir", "")) + "/")
    return (int(found.group(1)), int(found.group(2))) if found else None


def recorded_paths(data):
    """Every path a manifest of the right shape names: the ones uninstall and a re-run remove or rewrite."""
    paths = [*data.get("files", {}), *data.get("links", {}), *data.get("hooks", {})]
    paths += data.get("dirs", []) + data.get("logs", []) + data.get("created", [])
    paths += (data.get("release", {}).get("pyinotify") or {}).get("files", [])
    return paths


def _path_problem(root, data):
    """The first recorded path that could reach outside the root, or None. Each names the entry itself, which
    is removed or replaced, never followed: so its folder is resolved through the links on disk, not its name."""
    real_root = os.path.realpath(root)
    for recorded in recorded_paths(data):
        parts = recorded.split("/")
        if recorded.startswith("/") or ".." in parts or not recorded.strip("/.") or "\0" in recorded:
            return f"{recorded!r} is not a path inside the root"
        folder = os.path.realpath(os.path.join(real_root, os.path.dirname(recorded)))
        if os.path.commonpath([real_root, folder]) != real_root:
            return f"{recorded!r} leads through a link to {folder}, outside the root"
    return None


def dump(manifest):
    return (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode()
