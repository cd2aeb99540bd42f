"""./install --uninstall: stop fail2ban and remove what the manifest lists, except what the admin changed."""

import os
import shutil
from pathlib import Path

from installer.pipeline import boot
from installer.pipeline.apply import remove_empty_dirs, remove_unchanged
from installer.pipeline.journal import RunLock
from installer.pipeline.place import Transaction
from installer.pipeline.progress import Progress
from installer.shared import manifest as manifest_file
from installer.shared import paths
from installer.shared.errors import InstallerError
from installer.shared.fail2ban import Client
from installer.shared.paths import CLIENT, RC_SCRIPT, SWITCHING, relative, under
from installer.shared.run import run


def stop_server(root):
    rc_script = under(root, RC_SCRIPT)
    client = Client(root)
    if not under(root, CLIENT).exists() or not client.is_running():
        return False
    if os.access(rc_script, os.X_OK):
        run([rc_script, "stop"], what="rc.fail2ban stop")
    else:
        client.call("stop")
    return True


def stop_fleet(root):
    rc_script = under(root, paths.FLEET_RC_SCRIPT)
    if os.access(rc_script, os.X_OK):
        run([rc_script, "stop"], what="rc.qmail-f2b-fleet stop")


# What the fleet daemon and the Local API write as they run: no file of the manifest, gone with us.
FLEET_DATA = (paths.LAPI_DATA, paths.LAPI_REGISTERED, paths.FLEET_SPOOL, paths.FLEET_RUN_DIR, paths.FLEET_LOG)


def remove_fleet_data(root):
    for path in FLEET_DATA:
        target = under(root, path)
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
    spool_parent = under(root, paths.FLEET_SPOOL).parent
    if spool_parent.is_dir() and not any(spool_parent.iterdir()):
        spool_parent.rmdir()


def uninstall(root_option, quiet=False):
    root = Path(root_option or "/").absolute()
    staged = root_option is not None
    if not staged and os.geteuid() != 0:
        raise InstallerError("./install --uninstall must run as root, or name a staged folder with --root DIR")
    progress = Progress(3, quiet=quiet)
    with RunLock(root) as lock:
        kept = _remove(root, staged, progress, lock)
    for path in kept:
        print(f"Kept {root / path}: you changed it.")
    progress.say(f"fail2ban removed{' from ' + str(root) if staged else ''}.")
    return 0


def _remove(root, staged, progress, lock):
    """Remove what the manifest lists, under the lock; return the files kept because the admin changed them."""
    manifest = manifest_file.load(root)
    if not manifest["files"] and not manifest["hooks"]:
        raise InstallerError(f"nothing to uninstall: there is no manifest at {under(root, manifest_file.LOCATION)}")
    with progress.step("Stopping fail2ban"):
        if not staged:
            stop_fleet(root)
            stop_server(root)
            if manifest["packages"]["names"]:
                from installer.pipeline import packages
                packages.remove(manifest["packages"]["names"], manifest["packages"]["offline_file"])
    with Transaction(root, os.geteuid() == 0, lock.journal) as transaction:
        with progress.step("Removing files"):
            boot.remove_hooks(transaction, manifest)
            _, kept = remove_unchanged(transaction, manifest["files"], manifest["links"])
            for path in manifest["logs"]:
                if transaction.path(path).is_file() and transaction.path(path).stat().st_size == 0:
                    transaction.remove(path)
            transaction.remove(manifest_file.LOCATION)
            # What a killed upgrade recorded for the next install, which there will not be.
            transaction.remove(relative(SWITCHING))
        with progress.step("Removing empty folders"):
            remove_fleet_data(root)
            remove_empty_dirs(transaction, manifest["dirs"])
    # Our state folder holds the lock until the end: it goes with the lock if we made it.
    lock.remove_when_empty(manifest["dirs"])
    return kept
