"""Choose the Python that fail2ban will run on: one the release supports, that imports from the prefix."""

import json
import os
import shutil
import sys
from dataclasses import dataclass

from installer.shared import releases
from installer.shared.errors import InstallerError
from installer.shared.paths import PREFIX
from installer.shared.run import run

PROBE = r"""
import json, sys
try:
    import setuptools
    setuptools_version = setuptools.__version__
except Exception:
    setuptools_version = None
print(json.dumps({"version": list(sys.version_info[:2]), "path": sys.path, "prefix": sys.prefix,
                  "executable": sys.executable, "setuptools": setuptools_version}))
"""


@dataclass
class Interpreter:
    path: str
    version: tuple
    site_dir: str          # where fail2ban's package goes: a folder under the prefix this Python imports from,
                           # or for a --python that reads nothing from it, that Python's own site-packages
    setuptools: str

    @property
    def label(self):
        return f"Python {self.version[0]}.{self.version[1]} ({self.path})"


def probe(path):
    result = run([path, "-c", PROBE], what=f"probing {path}", timeout=60)
    facts = json.loads(result.stdout)
    return facts


def site_dir_under(prefix, sys_path):
    """The first site-packages/dist-packages folder of sys.path that lies under prefix but not prefix/local."""
    prefix = prefix.rstrip("/") + "/"
    for entry in sys_path:
        name = os.path.basename(entry.rstrip("/"))
        if (entry.startswith(prefix) and not entry.startswith(prefix + "local/")
                and name in ("site-packages", "dist-packages")):
            return entry
    return None


def candidates(requested):
    if requested:
        return [requested]
    found = []
    for name in ("/usr/bin/python3", shutil.which("python3"), sys.executable):
        if name and os.path.exists(name) and os.path.realpath(name) not in map(os.path.realpath, found):
            found.append(name)
    return found


def choose(release, prefix=PREFIX, requested=None):
    """The first candidate Python that can run this release and imports packages from under prefix; or the
    requested one (--python) with its own site-packages, where it reads nothing from prefix (a Python built
    into /opt or a pyenv folder): the admin chose it, and fail2ban runs there as it runs under prefix."""
    reasons = []
    for path in candidates(requested):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            reasons.append(f"{path} is not an executable")
            continue
        facts = probe(path)
        version = tuple(facts["version"])
        problem = releases.python_problem(release, version)
        if problem:
            reasons.append(problem)
            continue
        site_dir = site_dir_under(prefix, facts["path"])
        if not site_dir and requested:
            site_dir = site_dir_under(facts["prefix"], facts["path"])
        if not site_dir:
            reasons.append(f"{path} imports nothing from {prefix}, so a fail2ban installed there could not run")
            continue
        if not facts["setuptools"] and not releases.has_distutils(version):
            # Older Pythons still carry distutils, which fail2ban's setup.py falls back to.
            reasons.append(f"{path} has no setuptools, which fail2ban's setup.py needs: install python3-setuptools")
            continue
        return Interpreter(path, version, site_dir, facts["setuptools"])
    if not reasons:
        reasons.append("no python3 found")
    raise InstallerError(f"no Python here can run fail2ban {release}: {reasons[0]}")
