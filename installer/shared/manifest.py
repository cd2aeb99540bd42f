"""The record of what the installer wrote on a host, so a re-run, an upgrade and uninstall know what is ours.

Stored as JSON at paths.MANIFEST under the root:
  files:   path -> {"sha256": digest as we wrote it, "mode": octal string}
  links:   path -> link target
  dirs:    folders we created (removed on uninstall when empty)
  logs:    empty log files we created where a service will write (removed on uninstall while still empty)
  hooks:   file -> the lines we added to it (rc.local, rc.local_shutdown)
  created: files we created whole that hold hooks (removed on uninstall when only their header is left)
  release: what was built: version, tarball digest, interpreter, and pyinotify's version, digest and files
"""

import json

from installer.shared.errors import InstallerError
from installer.shared.paths import MANIFEST, relative, under

LOCATION = relative(MANIFEST)


def empty():
    return {"files": {}, "links": {}, "dirs": [], "logs": [], "hooks": {}, "created": [], "release": {}}


def load(root):
    path = under(root, MANIFEST)
    if not path.exists():
        return empty()
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise InstallerError(f"{path} is unreadable ({error}): move it aside to start afresh") from None
    manifest = empty()
    manifest.update(data)
    return manifest


def dump(manifest):
    return (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode()
