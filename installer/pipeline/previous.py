"""The one previous release kept for ./install --rollback, under paths.PREVIOUS_DIR.

An install that replaces one build with another keeps the old one there: every file its manifest records,
as it was on disk (files/PATH), that manifest (manifest) and a backup of fail2ban's database (database).
They are entries of the run like any other, recorded in the new manifest's files, so the transaction puts
them in place or back, the next install keeps them, a later upgrade replaces them, and --uninstall removes
them. A rollback places files/ back and keeps the release it replaces in their stead.
"""

import json
from pathlib import Path

from installer.pipeline.payload import Entry
from installer.shared import manifest as manifest_file
from installer.shared import paths
from installer.shared.errors import InstallerError

KEPT = paths.relative(paths.PREVIOUS_DIR)
FILES = f"{KEPT}/files"
MANIFEST = f"{KEPT}/manifest"
DATABASE = f"{KEPT}/database"


def is_kept(path):
    return path == KEPT or path.startswith(KEPT + "/")


def without_kept(manifest):
    """The manifest of a release alone: without the release it keeps."""
    alone = dict(manifest, files={path: record for path, record in manifest["files"].items() if not is_kept(path)})
    alone.pop("previous", None)
    return alone


def snapshot(root, manifest, database_backup):
    """Entries that keep the release the manifest records, as it is on disk now."""
    entries = []
    for path, record in sorted(manifest["files"].items()):
        source = Path(root) / path
        if is_kept(path) or path == manifest_file.LOCATION or source.is_symlink() or not source.is_file():
            continue
        entries.append(Entry(f"{FILES}/{path}", "file", source.read_bytes(), int(record["mode"], 8)))
    entries.append(Entry(MANIFEST, "file", manifest_file.dump(without_kept(manifest)), 0o600))
    if database_backup:
        entries.append(Entry(DATABASE, "file", Path(database_backup).read_bytes(), 0o600))
    return entries


def kept_entries(root, manifest):
    """The entries of the release kept now, for a run that keeps it as it is."""
    return [Entry(path, "file", (Path(root) / path).read_bytes(), int(record["mode"], 8))
            for path, record in sorted(manifest["files"].items())
            if is_kept(path) and (Path(root) / path).is_file()]


def load(root, manifest):
    """(the kept release's manifest, the entries that put its files and links back)."""
    if not manifest.get("previous"):
        raise InstallerError("no previous release is kept here: --rollback goes back over an upgrade made by"
                             " ./install, and there has been none since the install")
    kept_manifest_path = Path(root) / MANIFEST
    try:
        kept = json.loads(kept_manifest_path.read_text())
    except (OSError, ValueError) as error:
        raise InstallerError(f"{kept_manifest_path} is unreadable ({error}): the previous release cannot be"
                             " put back") from None
    problem = manifest_file.problem_of(root, kept)
    if problem:
        raise InstallerError(f"{kept_manifest_path} is damaged ({problem}): the previous release cannot be put back")
    restored = manifest_file.empty()
    restored.update(kept)
    entries = []
    for path, record in sorted(restored["files"].items()):
        source = Path(root) / FILES / path
        if not source.is_file():
            raise InstallerError(f"{source} is missing: the previous release cannot be put back whole")
        entries.append(Entry(path, "file", source.read_bytes(), int(record["mode"], 8)))
    entries += [Entry(path, "link", target=target) for path, target in sorted(restored["links"].items())]
    return restored, entries


def database(root):
    """The kept database backup, or None."""
    path = Path(root) / DATABASE
    return path if path.is_file() else None
