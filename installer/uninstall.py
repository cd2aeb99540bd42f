"""./install --uninstall: stop fail2ban and remove what the manifest lists, except what the admin changed."""

import os
from pathlib import Path

from installer import boot, manifest as manifest_file
from installer.errors import InstallerError
from installer.fail2ban import Client
from installer.place import Transaction, target_state
from installer.progress import Progress
from installer.run import run


def stop_server(root):
    rc_script = root / "etc/rc.d/rc.fail2ban"
    client = Client(root)
    if not (root / "usr/bin/fail2ban-client").exists() or not client.is_running():
        return False
    if os.access(rc_script, os.X_OK):
        run([rc_script, "stop"], what="rc.fail2ban stop")
    else:
        client.call("stop")
    return True


def uninstall(root_option, quiet=False):
    root = Path(root_option or "/").absolute()
    staged = root_option is not None
    if not staged and os.geteuid() != 0:
        raise InstallerError("./install --uninstall must run as root, or name a staged folder with --root DIR")
    manifest = manifest_file.load(root)
    if not manifest["files"] and not manifest["hooks"]:
        raise InstallerError(f"nothing to uninstall: there is no manifest at {root / manifest_file.LOCATION}")
    progress = Progress(3, quiet=quiet)
    with progress.step("Stopping fail2ban"):
        if not staged:
            stop_server(root)
    transaction = Transaction(root, as_root=os.geteuid() == 0)
    kept = []
    try:
        with progress.step("Removing files"):
            boot.remove_hooks(transaction, manifest)
            for path, record in sorted(manifest["files"].items()):
                kind, value = target_state(transaction.path(path))
                if kind == "file" and value == record["sha256"]:
                    transaction.remove(path)
                elif kind == "file":
                    kept.append(path)
            for path, target in sorted(manifest["links"].items()):
                if target_state(transaction.path(path)) == ("link", target):
                    transaction.remove(path)
            for path in manifest["logs"]:
                if transaction.path(path).is_file() and transaction.path(path).stat().st_size == 0:
                    transaction.remove(path)
            transaction.remove(manifest_file.LOCATION)
        with progress.step("Removing empty folders"):
            for folder in sorted(manifest["dirs"], key=lambda name: name.count("/"), reverse=True):
                transaction.remove_dir(folder)
    except BaseException:
        transaction.rollback()
        raise
    transaction.close()
    for path in kept:
        print(f"Kept {root / path}: you changed it.")
    progress.say(f"fail2ban removed{' from ' + str(root) if staged else ''}.")
    return 0
