"""Write files onto the root atomically, remembering enough to put everything back if a later step fails."""

import os
import shutil
import stat
import tempfile
from pathlib import Path

from installer.shared.digest import sha256_file


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
    """Every change to the root goes through here; rollback() restores the root as it was."""

    def __init__(self, root, as_root):
        self.root = Path(root)
        self.as_root = as_root
        self.undo = []
        self.backups = Path(tempfile.mkdtemp(prefix="qmail-fail2ban-undo-"))
        self.changed = []
        self.created_dirs = []

    def path(self, relative):
        return self.root / relative

    def _remember(self, path):
        """Save what is at path now, so rollback can restore it."""
        kind, _ = target_state(path)
        if kind == "missing":
            self.undo.append(("remove", path, None))
        elif kind == "link":
            self.undo.append(("link", path, os.readlink(path)))
        elif kind == "file":
            saved = self.backups / str(len(self.undo))
            # One descriptor that follows no link: the folder's owner may have swapped the name for a link
            # to a file only root can read, which rollback would then copy into their folder.
            with open(path, "rb", opener=_no_link) as stream:
                info = os.fstat(stream.fileno())
                saved.write_bytes(stream.read())
            self.undo.append(("file", path, (saved, stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid,
                                             (info.st_atime_ns, info.st_mtime_ns))))
        elif kind == "dir":
            self.undo.append(("keepdir", path, None))
        # a device or socket is never replaced (callers check), so it needs no undo

    def make_dirs(self, relative, mode=0o755):
        """Create the folder and missing parents, remembering them (relative) in created_dirs."""
        path = self.path(relative)
        missing = []
        while not path.exists() and path != self.root.parent:
            missing.append(path)
            path = path.parent
        for folder in reversed(missing):
            folder.mkdir(mode=mode)
            self.undo.append(("rmdir", folder, None))
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

    def write(self, relative, data, mode, uid=0, gid=0):
        """Atomically replace relative with data (bytes), mode and owner (root unless given)."""
        path = self.path(relative)
        self.make_dirs(Path(relative).parent.as_posix())
        self._remember(path)
        if os.path.isdir(path) and not os.path.islink(path):
            raise IsADirectoryError(f"{path} is a folder")
        self._put(path, data, mode, uid, gid)
        self.changed.append(relative)

    def _set_mode_and_owner(self, descriptor, mode, uid=0, gid=0):
        # Owner first: a change of owner may clear mode bits.
        if self.as_root:
            os.fchown(descriptor, uid, gid)
        os.fchmod(descriptor, mode)

    def _put(self, path, data, mode, uid, gid, times=None):
        """Replace path with a new file holding data. The folder may be writable by others (Roundcube's logs
        folder belongs to the web server), who can swap the temporary name for a link at any moment: so the
        name is only ever replaced, and the mode and owner are set through the descriptor, never the name."""
        descriptor, temporary = tempfile.mkstemp(prefix=".qf2b-", dir=path.parent)
        try:
            with os.fdopen(descriptor, "wb") as stream:
                stream.write(data)
                stream.flush()
                self._set_mode_and_owner(stream.fileno(), mode, uid, gid)
                if times:
                    os.utime(stream.fileno(), ns=times)
                os.fsync(stream.fileno())
            os.replace(temporary, path)
        except BaseException:
            if os.path.lexists(temporary):
                os.unlink(temporary)
            raise

    def symlink(self, relative, target):
        path = self.path(relative)
        self.make_dirs(Path(relative).parent.as_posix())
        self._remember(path)
        temporary = path.with_name(f".qf2b-{path.name}")
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
        try:
            path.rmdir()
        except OSError:
            return False
        self.undo.append(("mkdir", path, None))
        self.changed.append(relative)
        return True

    def rollback(self):
        for action, path, saved in reversed(self.undo):
            if action == "remove":
                if os.path.lexists(path) and not os.path.isdir(path):
                    os.unlink(path)
            elif action == "rmdir":
                shutil.rmtree(path, ignore_errors=True)
            elif action == "mkdir":
                path.mkdir(exist_ok=True)
            elif action == "link":
                if os.path.lexists(path):
                    os.unlink(path)
                os.symlink(saved, path)
            elif action == "file":
                backup, mode, uid, gid, times = saved
                self._put(path, backup.read_bytes(), mode, uid, gid, times)
        self.undo.clear()
        self.close()

    def close(self):
        shutil.rmtree(self.backups, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, kind, error, trace):
        """Any failure, an interruption included, puts the root back as it was before."""
        if kind is None:
            self.close()
        else:
            self.rollback()
        return False
