"""How fail2ban's jails watch their logs: pyinotify where fail2ban's Python can use it, else polling.

With pyinotify the kernel wakes fail2ban as a line is written; polling looks at the files on a
timer, which roughly doubles the time from an attack to its ban. fail2ban 1.0 and 1.1 both try
pyinotify first for `backend = auto`, and both fall back to polling, with a warning, when an explicit
`backend = pyinotify` cannot be had. pyinotify imports asyncore, which Python 3.12 removed: there it
never works, and polling is the best there is.

The installer fetches nothing: it builds pyinotify from the source release the admin saves beside
fail2ban's (installer.pipeline.pyinotify), and where the Python could use pyinotify but has none,
it tells the admin the one step that adds it.
"""

import os

from installer.shared import releases
from installer.shared.errors import InstallerError
from installer.shared.paths import SOURCE_DIR
from installer.shared.run import run

# What fail2ban's filterpyinotify checks before it uses pyinotify.
PROBE = r"""
import sys
try:
    import pyinotify
    version = tuple(int(part) for part in pyinotify.__version__.split(".")[:3])
    if version < (0, 8, 3):
        raise ImportError("pyinotify %s is older than the 0.8.3 fail2ban needs" % pyinotify.__version__)
    pyinotify.WatchManager().close()
    print("pyinotify %s" % pyinotify.__file__)
except Exception as error:
    print("polling %s: %s" % (type(error).__name__, error))
"""


def pyinotify_file(interpreter_path, env=None):
    """(the file of the pyinotify that Python imports and fail2ban could use, None) or (None, why not).

    env is the whole environment, e.g. with PYTHONPATH naming a staged site folder first."""
    try:
        result = run([interpreter_path, "-c", PROBE], env=env, what=f"asking {interpreter_path} for pyinotify",
                     timeout=60)
    except InstallerError as error:
        return None, str(error)
    backend, _, detail = result.stdout.strip().partition(" ")
    if backend != "pyinotify":
        return None, detail or "no answer"
    return detail, None


def fastest_log_backend(interpreter_path):
    """"pyinotify" or "polling": the fastest log backend that Python supports."""
    found, _ = pyinotify_file(interpreter_path)
    return "pyinotify" if found else "polling"


def polling_advice(interpreter_path, version, root="/"):
    """The line to show the admin where fail2ban will poll although pyinotify could work; else None."""
    found, reason = pyinotify_file(interpreter_path)
    if found or not releases.has_asyncore(version):
        return None
    if os.path.exists(os.path.join(root, "etc/debian_version")):
        package = "apt-get install python3-pyinotify"
    elif os.path.exists(os.path.join(root, "etc/slackware-version")):
        package = "install python3-pyinotify from SlackBuilds.org"
    else:
        package = f"install your distribution's pyinotify for {interpreter_path}"
    return (f"fail2ban will poll its logs ({reason}), which bans later than pyinotify would: save "
            f"{releases.PYINOTIFY_SOURCE_RELEASE} from PyPI in {SOURCE_DIR} (or {package}), then run ./install again")
