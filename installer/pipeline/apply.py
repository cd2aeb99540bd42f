"""Put planned entries on the root under the Slackware rule: never clobber what the admin changed."""

import os
from dataclasses import dataclass, field
from pathlib import Path

from installer.pipeline.place import target_state
from installer.shared.errors import InstallerError


@dataclass
class Outcome:
    written: list = field(default_factory=list)       # new or updated paths
    new_files: list = field(default_factory=list)     # NAME.new written beside a file the admin owns
    kept: list = field(default_factory=list)          # the admin's files left alone
    replaced: list = field(default_factory=list)      # program files of an earlier, unrecorded install
    removed: list = field(default_factory=list)       # our files the new release no longer has


def plan_actions(entries, root, old):
    """[(action, entry)]: write, replace, link, mkdir, new (NAME.new beside the admin's), theirs or same."""
    actions = []
    for entry in entries:
        path = Path(root) / entry.path
        kind, value = target_state(path)
        if entry.kind == "dir":
            if kind == "missing":
                actions.append(("mkdir", entry))
            elif kind == "dir":
                actions.append(("same", entry))
            else:
                raise InstallerError(f"{path} is in the way: fail2ban needs a folder there; move it aside")
            continue
        if kind in ("dir", "other"):
            raise InstallerError(f"{path} is in the way: it is a {'folder' if kind == 'dir' else 'special file'}, "
                                 "not a file; move it aside")
        if entry.kind == "link":
            actions.append(("same" if kind == "link" and value == entry.target else "link", entry))
            continue
        recorded = old["files"].get(entry.path, {}).get("sha256")
        if kind == "missing":
            actions.append(("write", entry))
        elif value == entry.sha256:
            # An identical file the admin put there stays theirs; program files we simply adopt.
            actions.append(("same" if recorded or not entry.is_config else "theirs", entry))
        elif recorded and value == recorded:
            actions.append(("write", entry))
        elif entry.is_config:
            actions.append(("new", entry))
        else:
            actions.append(("replace", entry))
    return actions


def apply(actions, transaction, old, manifest, outcome):
    """Carry out the planned actions and record ours in manifest."""
    for action, entry in actions:
        if action == "mkdir":
            transaction.make_dirs(entry.path, entry.mode)
        elif action == "link":
            transaction.symlink(entry.path, entry.target)
            outcome.written.append(entry.path)
        elif action in ("write", "replace"):
            transaction.write(entry.path, entry.data, entry.mode)
            (outcome.replaced if action == "replace" else outcome.written).append(entry.path)
        elif action == "new":
            new_path = entry.path + ".new"
            kind, value = target_state(transaction.path(new_path))
            if value != entry.sha256:
                transaction.write(new_path, entry.data, entry.mode)
            outcome.new_files.append(new_path)
            outcome.kept.append(entry.path)
            manifest["files"][new_path] = {"sha256": entry.sha256, "mode": oct(entry.mode)}
            if entry.path in old["files"]:
                manifest["files"][entry.path] = old["files"][entry.path]
            continue
        if action == "theirs":
            continue
        if entry.kind == "file":
            manifest["files"][entry.path] = {"sha256": entry.sha256, "mode": oct(entry.mode)}
        elif entry.kind == "link":
            manifest["links"][entry.path] = entry.target
        if action == "same" and entry.kind == "file" and _mode(transaction.path(entry.path)) != entry.mode:
            transaction.write(entry.path, entry.data, entry.mode)
            outcome.written.append(entry.path)


def _mode(path):
    return os.lstat(path).st_mode & 0o7777


def remove_unchanged(transaction, files, links):
    """Remove every recorded file ({path: {"sha256": ...}}) and link ({path: target}) that is still as
    we wrote it; return (removed, changed): a file the admin changed stays."""
    removed, changed = [], []
    for path, record in sorted(files.items()):
        kind, value = target_state(transaction.path(path))
        if kind == "file" and value == record["sha256"]:
            transaction.remove(path)
            removed.append(path)
        elif kind == "file":
            changed.append(path)
    for path, target in sorted(links.items()):
        if target_state(transaction.path(path)) == ("link", target):
            transaction.remove(path)
            removed.append(path)
    return removed, changed


def remove_empty_dirs(transaction, folders):
    """Remove the folders that are empty, deepest first; return those removed."""
    return [folder for folder in sorted(folders, key=lambda name: name.count("/"), reverse=True)
            if transaction.remove_dir(folder)]


def remove_stale(old, manifest, transaction, outcome, entries):
    """Remove files, links and folders an earlier install made that this one no longer has, unless changed."""
    removed, changed = remove_unchanged(
        transaction, {path: record for path, record in old["files"].items() if path not in manifest["files"]},
        {path: target for path, target in old["links"].items() if path not in manifest["links"]})
    outcome.removed += removed
    outcome.kept += changed
    needed = set()
    for entry in entries:
        parts = entry.path.split("/")
        needed.update("/".join(parts[:length]) for length in range(1, len(parts) + (entry.kind == "dir")))
    for folder in remove_empty_dirs(transaction, set(manifest["dirs"]) - needed):
        manifest["dirs"].remove(folder)
