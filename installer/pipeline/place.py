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
            shutil.copy2(path, saved)
            info = os.lstat(path)
            self.undo.append(("file", path, (saved, info.st_uid, info.st_gid)))
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
            os.chmod(folder, mode)
            self._own(folder)
            self.undo.append(("rmdir", folder, None))
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
        descriptor, temporary = tempfile.mkstemp(prefix=".qf2b-", dir=path.parent)
        try:
            with os.fdopen(descriptor, "wb") as stream:
                stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())
            os.chmod(temporary, mode)
            self._own(temporary, uid, gid)
            os.replace(temporary, path)
        except BaseException:
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise
        self.changed.append(relative)

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
                backup, uid, gid = saved
                if os.path.lexists(path):
                    os.unlink(path)
                shutil.copy2(backup, path)
                if self.as_root:
                    os.lchown(path, uid, gid)
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
