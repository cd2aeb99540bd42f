"""One run at a time, and no half-done run left behind: the lock and the journal under STATE_DIR.

Every change a run makes to the root is written to the journal first (with a copy of any file it
replaces kept in UNDO_DIR), synced to disk, and only then made. A run that ends well empties the
journal; one that fails undoes it. A journal that the next run finds (it holds the lock, so whoever
wrote it is gone) was left by a run that was killed or lost its power: the next run undoes it before
anything else, so the host is as it was before that run and the new one starts from there.
"""

import fcntl
import json
import os
import shutil
import stat
from pathlib import Path, PurePosixPath

from installer.shared.digest import sha256_file
from installer.shared.errors import InstallerError
from installer.shared.paths import JOURNAL, LOCK, STATE_DIR, UNDO_DIR, WORK_DIR, under

# The run before us removes the lock file as it lets go; a run that opened that file just before
# must open the new one, which takes a few tries at most.
LOCK_ATTEMPTS = 20
# How a journal line says to undo its change: remove what was written where nothing was, remove a
# folder made, make again a folder removed, put back a link or a file (from its copy), or nothing.
UNDO_ACTIONS = {"remove", "rmdir", "mkdir", "link", "file", "keepdir"}


def _inside_the_root(name):
    path = PurePosixPath(name)
    return not path.is_absolute() and ".." not in path.parts


def _well_formed(entry):
    """Whether a journal line is one this code wrote: a known action on paths inside the root."""
    return (isinstance(entry, dict) and entry.get("undo") in UNDO_ACTIONS
            and isinstance(entry.get("path"), str) and _inside_the_root(entry["path"])
            and isinstance(entry.get("temporary", ""), str) and _inside_the_root(entry.get("temporary", ""))
            and (entry["undo"] != "link" or isinstance(entry.get("target"), str))
            and (entry["undo"] != "file" or isinstance(entry.get("backup"), str) and entry["backup"].isdigit()
                 and isinstance(entry.get("uid"), int) and isinstance(entry.get("gid"), int)
                 and isinstance(entry.get("mode", 0), int)
                 and (entry.get("times") is None or isinstance(entry["times"], list)
                      and len(entry["times"]) == 2 and all(isinstance(time, int) for time in entry["times"]))))


def _fsync_folder(folder):
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _undo_temporary(path):
    """The fixed name path's replacement is made under when undoing: a run killed meanwhile leaves that
    name, which the next one removes."""
    return path.with_name(f".qf2b-undo-{path.name}")


def _write_new(path, data, mode, uid=None, gid=None, times=None):
    """Create path (never following a link someone put there) holding data, with its mode, owner and
    times set through the descriptor, synced."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(descriptor, "wb") as stream:
        stream.write(data)
        stream.flush()
        if uid is not None and os.geteuid() == 0:
            os.fchown(stream.fileno(), uid, gid)
        os.fchmod(stream.fileno(), mode)
        if times:
            os.utime(stream.fileno(), ns=tuple(times))
        os.fsync(stream.fileno())


def _replace_atomically(path, make):
    """Put what make(temporary) creates at path in one step."""
    temporary = _undo_temporary(path)
    if os.path.lexists(temporary):
        os.unlink(temporary)
    make(temporary)
    os.replace(temporary, path)


class Journal:
    """The changes a run made to the root, in order, each as the record of how to undo it."""

    def __init__(self, root, entries=()):
        self.root = Path(root)
        self.path = under(root, JOURNAL)
        self.backups = under(root, UNDO_DIR)
        self.entries = list(entries)

    @classmethod
    def load(cls, root):
        """The journal a killed run left under root (empty if none). A line cut short by a power loss
        is the last one, and its change was never made: it is left out."""
        journal = cls(root)
        try:
            lines = journal.path.read_bytes().splitlines()
        except FileNotFoundError:
            return journal
        for number, line in enumerate(lines, 1):
            try:
                entry = json.loads(line)
            except ValueError:
                if number == len(lines):
                    continue
                entry = None
            if not _well_formed(entry):
                raise InstallerError(f"{journal.path} is damaged at line {number}: move it aside, "
                                     "and check the host by hand")
            journal.entries.append(entry)
        return journal

    def _relative(self, path):
        return Path(path).relative_to(self.root).as_posix()

    def _absolute(self, relative):
        return self.root / relative

    def record(self, undo, path, temporary=None, **details):
        """Write down, durably, how to undo the change about to be made to path (and to its temporary)."""
        entry = {"undo": undo, "path": self._relative(path), **details}
        if temporary is not None:
            entry["temporary"] = self._relative(temporary)
        created = not self.path.exists()
        descriptor = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        try:
            os.write(descriptor, (json.dumps(entry, sort_keys=True) + "\n").encode())
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        if created:
            _fsync_folder(self.path.parent)
        self.entries.append(entry)

    def save(self, data):
        """Keep data (a file's content before a change) in UNDO_DIR, synced; return the copy's name."""
        self.backups.mkdir(mode=0o700, exist_ok=True)
        name = str(len(self.entries))
        _write_new(self.backups / name, data, 0o600)
        _fsync_folder(self.backups)
        return name

    def undo(self, keep=0):
        """Undo every change after the first `keep`, newest first, and forget them. The folders that hold
        the journal itself go last, once it is gone."""
        holding_the_journal = []
        for entry in reversed(self.entries[keep:]):
            if entry["undo"] == "rmdir" and self._absolute(entry["path"]) in self.path.parents:
                holding_the_journal.append(entry)
            else:
                self._undo(entry)
        self.forget(keep)
        for entry in holding_the_journal:
            self._undo(entry)

    def forget(self, keep=0):
        """Keep only the first `keep` entries, on disk too: the changes after them now stand (or are undone)."""
        del self.entries[keep:]
        if self.entries:
            def write(temporary):
                with open(temporary, "w") as stream:
                    stream.writelines(json.dumps(entry, sort_keys=True) + "\n" for entry in self.entries)
                    stream.flush()
                    os.fsync(stream.fileno())
            _replace_atomically(self.path, write)
        elif os.path.lexists(self.path):
            os.unlink(self.path)
        if self.path.parent.is_dir():
            _fsync_folder(self.path.parent)
        # Only once the journal no longer names them may the copies go.
        named = {entry.get("backup") for entry in self.entries}
        if self.backups.is_dir():
            for copy in self.backups.iterdir():
                if copy.name not in named:
                    copy.unlink()
            if not named - {None}:
                try:
                    self.backups.rmdir()
                except OSError:
                    pass

    def _undo(self, entry):
        path = self._absolute(entry["path"])
        if entry.get("temporary"):
            temporary = self._absolute(entry["temporary"])
            if os.path.lexists(temporary) and not os.path.isdir(temporary):
                os.unlink(temporary)
        undo = entry["undo"]
        if undo == "remove":
            self._remove_ours(path, entry)
        elif undo == "rmdir":
            # Only an empty folder goes: anything in it now is someone else's.
            try:
                os.rmdir(path)
            except OSError:
                pass
        elif undo == "mkdir":
            path.mkdir(exist_ok=True)
        elif undo == "link":
            if not os.path.isdir(path) or os.path.islink(path):
                _replace_atomically(path, lambda temporary: os.symlink(entry["target"], temporary))
        elif undo == "file":
            backup = self.backups / entry["backup"]
            if backup.is_file() and (not os.path.isdir(path) or os.path.islink(path)):
                _replace_atomically(path, lambda temporary: _write_new(
                    temporary, backup.read_bytes(), entry.get("mode", 0o644), entry["uid"], entry["gid"],
                    entry.get("times")))

    @staticmethod
    def _remove_ours(path, entry):
        """Remove what this run put where nothing was, if it is still what this run put there."""
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            return
        if stat.S_ISLNK(info.st_mode):
            ours = entry.get("link") is not None and os.readlink(path) == entry["link"]
        elif stat.S_ISREG(info.st_mode):
            ours = entry.get("sha256") is not None and sha256_file(path) == entry["sha256"]
        else:
            ours = False
        if ours:
            os.unlink(path)


def _same_file(descriptor, path):
    try:
        named = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    held = os.fstat(descriptor)
    return (held.st_dev, held.st_ino) == (named.st_dev, named.st_ino)


class RunLock:
    """LOCK under the root, held with fcntl.flock from the start of a run to its end, by ./install and
    --uninstall alike. It carries the run's Journal: taking it first undoes a killed run's journal."""

    def __init__(self, root):
        self.root = Path(root)
        self.path = under(root, LOCK)
        self.state_dir = under(root, STATE_DIR)
        self.descriptor = None
        self.journal = None
        self.created = []        # folders made for the lock (by this run or a killed one), parents first

    def _state_chain(self):
        """STATE_DIR and the folders above it, up to and including the root, parents first."""
        chain = [self.state_dir, *self.state_dir.parents]
        return list(reversed(chain[:chain.index(self.root) + 1] if self.root in chain else chain))

    def acquire(self):
        made = [folder for folder in self._state_chain() if not folder.exists()]
        try:
            for folder in made:
                folder.mkdir(mode=0o755)
            self._lock()
        except BaseException:
            for folder in reversed(made):
                try:
                    folder.rmdir()
                except OSError:
                    pass
            raise
        try:
            self._take_over(made)
        except BaseException:
            self.release()
            raise

    def _lock(self):
        for _ in range(LOCK_ATTEMPTS):
            descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(descriptor, 32).decode(errors="replace").strip()
                os.close(descriptor)
                raise InstallerError(f"another ./install is running (pid {holder or 'unknown'}, which holds "
                                     f"{self.path}): let it finish, then run this again") from None
            if _same_file(descriptor, self.path):
                break
            os.close(descriptor)
        else:
            raise InstallerError(f"cannot take the lock {self.path}: it keeps being replaced; run this again")
        self.descriptor = descriptor
        os.ftruncate(descriptor, 0)
        os.write(descriptor, f"{os.getpid()}\n".encode())
        os.fsync(descriptor)

    def _take_over(self, made):
        """Undo what a killed run's journal holds, clear its build folder, and start this run's journal
        with the folders made for the lock, so that they go again unless this run places something there."""
        killed = Journal.load(self.root)
        chain = self._state_chain()
        # A killed run's folders on the way to STATE_DIR now hold our lock: they become this run's.
        inherited = [self.root / entry["path"] for entry in killed.entries
                     if entry["undo"] == "rmdir" and self.root / entry["path"] in chain]
        killed.entries = [entry for entry in killed.entries if self.root / entry["path"] not in inherited]
        killed.undo()
        if os.path.lexists(_undo_temporary(killed.path)):
            os.unlink(_undo_temporary(killed.path))
        shutil.rmtree(under(self.root, WORK_DIR), ignore_errors=True)
        self.created = [folder for folder in chain if folder in inherited or folder in made]
        self.journal = Journal(self.root)
        for folder in self.created:
            self.journal.record("rmdir", folder)

    def created_relative(self):
        """The folders this run made for the lock, as the manifest lists folders."""
        return [folder.relative_to(self.root).as_posix() for folder in self.created if folder != self.root]

    def remove_when_empty(self, relative_folders):
        """Have these folders (those of STATE_DIR's chain among them) removed as the lock goes, if empty."""
        listed = {self.root / relative for relative in relative_folders}
        for folder in self._state_chain():      # parents first, so the deepest goes first
            if folder in listed and folder.is_dir():
                self.journal.record("rmdir", folder)

    def work_dir(self):
        """A private folder for the build, under STATE_DIR so that the next run clears what a killed one left."""
        work = under(self.root, WORK_DIR)
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(mode=0o700)
        return work

    def release(self):
        """Let go: the build folder and the lock file go, then whatever the journal still holds (the lock's
        own folders, when this run placed nothing in them) is undone."""
        shutil.rmtree(under(self.root, WORK_DIR), ignore_errors=True)
        if _same_file(self.descriptor, self.path):
            os.unlink(self.path)
        if self.journal is not None:
            self.journal.undo()
        os.close(self.descriptor)
        self.descriptor = None

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, kind, error, trace):
        self.release()
        return False
