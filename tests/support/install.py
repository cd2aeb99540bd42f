"""The fixture tarballs, and ./install run as an admin would: staged with --root, or for real on a
throwaway host."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / "tests" / ".cache"


def sha256_of(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def cached_tarball(pattern, builder):
    """The tarball in tests/.cache, built there by tests/fixture/BUILDER the first time."""
    existing = sorted(CACHE.glob(pattern))
    if existing:
        return existing[-1]
    result = subprocess.run([sys.executable, str(REPO / "tests/fixture" / builder), str(CACHE)],
                            check=True, stdout=subprocess.PIPE, text=True)
    return Path(result.stdout.strip())


def fixture_tarball():
    """Debian's fail2ban re-laid-out as an upstream release (tests/fixture/make_tarball.py says how)."""
    given = os.environ.get("QF2B_FIXTURE_TARBALL")
    return Path(given) if given else cached_tarball("fail2ban-*.tar.gz", "make_tarball.py")


def pyinotify_tarball():
    """Debian's python3-pyinotify re-laid-out as pyinotify's source release."""
    return cached_tarball("pyinotify-*.tar.gz", "make_pyinotify_tarball.py")


def configobj_tarball():
    """configobj's source release from PyPI, as ./install fetches it for a Python without configobj."""
    return cached_tarball("configobj-*.tar.gz", "get_configobj.py")


def install_command(*args):
    """./install run by the Python running the tests (it has configobj), as an admin would type it."""
    return [sys.executable, str(REPO / "install"), *map(str, args)]


def run_install(*args, offline=False, **kwargs):
    """./install with args; offline: in a network namespace of its own, where no download can reach out."""
    command = (["unshare", "--net"] if offline else []) + install_command(*args)
    return subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=kwargs.pop("timeout", 300), **kwargs)


class Staged:
    """fail2ban installed by ./install --root into a folder, with our filters and jails."""

    def __init__(self, root, site_dir):
        self.root = Path(root)
        self.confdir = self.root / "etc/fail2ban"
        self.env = dict(os.environ, PYTHONPATH=str(self.root / site_dir.lstrip("/")), PYTHONDONTWRITEBYTECODE="1")

    def bin(self, name):
        return self.root / "usr/bin" / name

    def run(self, name, *args, timeout=120, input=None):
        return subprocess.run([str(self.bin(name)), *map(str, args)], env=self.env, input=input,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)


def staged_at(root):
    """The Staged of a root that ./install --root has written (its manifest names the site dir)."""
    manifest = json.loads((Path(root) / "var/lib/qmail-fail2ban/manifest").read_text())
    return Staged(root, manifest["release"]["site_dir"])


def stage_install(root, tarball):
    result = run_install("--root", root, "--tarball", tarball, "--sha256", sha256_of(tarball), "--yes", "--quiet")
    assert result.returncode == 0, result.stderr
    return staged_at(root)


def install_on(host, tarball, *extra, timeout=300):
    """./install for real on a throwaway host, as root onto its /."""
    command = " ".join(map(str, install_command("--tarball", tarball, "--sha256", sha256_of(tarball), *extra)))
    result = host.run(f"cd {REPO} && {command}", timeout=timeout)
    assert result.returncode == 0, result.stdout + result.stderr
    return result
