"""Write files onto the root atomically, remembering enough to put everything back if a later step fails."""

import os
import stat
from pathlib import Path

from installer.shared.digest import sha256_bytes, sha256_file


def target_state(path):
    """('missing'|'file'|'link'|'dir'|'other', sha256-or-link-target-or-None)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return "missing", None
    if stat.S_ISLNK(info.st_mode):
        return "link", os.readlink(path)
    if stat.S_ISDIR(info.st_mode):
        return "dir", None
    if stat.S_ISREG(info.st_mode):
        return "file", sha256_file(path)
    return "other", None


def _no_link(path, flags):
    return os.open(path, flags | os.O_NOFOLLOW)


class Transaction:
    """Every change to the root goes through here, written to the journal before it is made; rollback()
    undoes this transaction's changes from the journal and no one else's."""

    def __init__(self, root, as_root, journal, adopted_dirs=()):
        """journal: the run's (see RunLock). adopted_dirs: folders made for this run before the transaction
        began (relative), recorded as made by it."""
        self.root = Path(root)
        self.as_root = as_root
        self.journal = journal
        self.start = len(self.journal.entries)
        self.changed = []
        self.created_dirs = list(adopted_dirs)

    def path(self, relative):
        return self.root / relative

    def _remember(self, path, temporary=None, **made):
        """Journal how to put back what is at path now (and remove the temporary beside it), before
        changing it; `made` says what this run puts there where nothing was, so only that is removed."""
        kind, _ = target_state(path)
        if kind == "missing":
            self.journal.record("remove", path, temporary, **made)
        elif kind == "link":
            self.journal.record("link", path, temporary, target=os.readlink(path))
        elif kind == "file":
            # One descriptor that follows no link: the folder's owner may have swapped the name for a link
            # to a file only root can read, which rollback would then copy into their folder.
            with open(path, "rb", opener=_no_link) as stream:
                info = os.fstat(stream.fileno())
                backup = self.journal.save(stream.read())
            self.journal.record("file", path, temporary, backup=backup, mode=stat.S_IMODE(info.st_mode),
                                uid=info.st_uid, gid=info.st_gid, times=[info.st_atime_ns, info.st_mtime_ns])
        elif kind == "dir":
            self.journal.record("keepdir", path, temporary)
        # a device or socket is never replaced (callers check), so it needs no undo

    def make_dirs(self, relative, mode=0o755):
        """Create the folder and missing parents, remembering them (relative) in created_dirs."""
        path = self.path(relative)
        missing = []
        while not path.exists() and path != self.root.parent:
            missing.append(path)
            path = path.parent
        for folder in reversed(missing):
            self.journal.record("rmdir", folder)
            folder.mkdir(mode=mode)
            # Its parent may be writable by another user, who could swap the new name for a link:
            # the mode and owner go through a descriptor of the folder itself.
            descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
            try:
                self._set_mode_and_owner(descriptor, mode)
            finally:
                os.close(descriptor)
            if folder != self.root and self.root in folder.parents:
                self.created_dirs.append(folder.relative_to(self.root).as_posix())

    def _own(self, path, uid=0, gid=0):
        if self.as_root:
            os.lchown(path, uid, gid)

    @staticmethod
    def _temporary(path):
        """The name a new version is written under before it replaces path: fixed, so the journal can
        name it before it exists, and a killed run's is found."""
        return path.with_name(f".qf2b-{path.name}")

    def write(self, relative, data, mode, uid=0, gid=0):
        """Atomically replace relative with data (bytes), mode and owner (root unless given)."""
        path = self.path(relative)
        self.make_dirs(Path(relative).parent.as_posix())
        temporary = self._temporary(path)
        self._remember(path, temporary, sha256=sha256_bytes(data))
        if os.path.isdir(path) and not os.path.islink(path):
            raise IsADirectoryError(f"{path} is a folder")
        self._put(path, temporary, data, mode, uid, gid)
        self.changed.append(relative)

    def _set_mode_and_owner(self, descriptor, mode, uid=0, gid=0):
        # Owner first: a change of owner may clear mode bits.
        if self.as_root:
            os.fchown(descriptor, uid, gid)
        os.fchmod(descriptor, mode)

    def _put(self, path, temporary, data, mode, uid, gid):
        """Replace path with a new file holding data, written under temporary first. The folder may be
        writable by others (Roundcube's logs folder belongs to the web server), who can swap names for links
        at any moment: the temporary is created anew (never followed), and the mode and owner are set through
        its descriptor, never a name."""
        if os.path.lexists(temporary):
            os.unlink(temporary)
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            with os.fdopen(descriptor, "wb") as stream:
                stream.write(data)
                stream.flush()
                self._set_mode_and_owner(stream.fileno(), mode, uid, gid)
                os.fsync(stream.fileno())
            os.replace(temporary, path)
        except BaseException:
            if os.path.lexists(temporary):
                os.unlink(temporary)
            raise

    def symlink(self, relative, target):
        path = self.path(relative)
        self.make_dirs(Path(relative).parent.as_posix())
        temporary = self._temporary(path)
        self._remember(path, temporary, link=target)
        if os.path.lexists(temporary):
            os.unlink(temporary)
        os.symlink(target, temporary)
        self._own(temporary)
        os.replace(temporary, path)
        self.changed.append(relative)

    def remove(self, relative):
        path = self.path(relative)
        if not os.path.lexists(path):
            return
        self._remember(path)
        os.unlink(path)
        self.changed.append(relative)

    def remove_dir(self, relative):
        """Remove a folder if it is empty; say whether it went."""
        path = self.path(relative)
        if not path.is_dir() or path.is_symlink() or any(path.iterdir()):
            return False
        self.journal.record("mkdir", path)
        try:
            path.rmdir()
        except OSError:
            return False
        self.changed.append(relative)
        return True

    def rollback(self):
        """Undo this transaction's changes, newest first: a file is removed only if it is still the one
        written here, a folder only if it is empty, so what another process put there meanwhile stays."""
        self.journal.undo(self.start)

    def commit(self):
        """The changes stand: the journal forgets them, and the folders made for the run before it began."""
        self.journal.forget(0)

    def __enter__(self):
        return self

    def __exit__(self, kind, error, trace):
        """Any failure, an interruption included, puts the root back as it was before."""
        if kind is None:
            self.commit()
        else:
            self.rollback()
        return False
