"""configobj for a Python that lacks it, without touching that Python's own site-packages.

site.conf is read with configobj, by ./install and by qmail-f2b. Where the Python running ./install
cannot import it, its source release (pinned, with PyPI's digest) is taken from the source folder,
else from the mirror, else fetched with that Python's pip; its package folder (pure Python, validate
included) is unpacked privately for this run to import, and placed in our own library, which
qmail-f2b puts first on its path, so the manifest records, upgrades and removes it like every file.
"""

import importlib.util
import shutil
import sys
from pathlib import Path

from installer.pipeline import download, payload, tarball
from installer.shared import paths, releases
from installer.shared.errors import InstallerError
from installer.shared.run import last_meaningful_line, run

# Inside the source release, the folder that is the importable package.
PACKAGE_FOLDER = "src/configobj"
PIP_TIMEOUT = 180


def importable():
    """Whether the Python running ./install imports configobj already (a distribution's or pip's)."""
    return importlib.util.find_spec("configobj") is not None


def verify(path, folder):
    """The Received copy of path in folder (see tarball.receive), if it is the pinned release and nothing
    else: there is one configobj this installer knows to work."""
    received = tarball.receive(path, folder)
    actual = received.digest
    if actual not in releases.CONFIGOBJ_PUBLISHED_SHA256:
        published = next(iter(releases.CONFIGOBJ_PUBLISHED_SHA256))
        raise InstallerError(f"{Path(path).name} has sha256 {actual}, not {published} as PyPI publishes for "
                             f"configobj {releases.CONFIGOBJ_VERSION}: download it again "
                             f"({releases.CONFIGOBJ_FETCH})")
    return received


def _missing_hint(folder):
    return (f"the Python module configobj is missing from {sys.executable}: save PyPI's "
            f"{releases.CONFIGOBJ_SOURCE_RELEASE} ({releases.CONFIGOBJ_FETCH}) as "
            f"{folder / releases.CONFIGOBJ_SOURCE_RELEASE} and run ./install again")


def _pip_download(into, folder):
    """configobj's source release fetched by the installing Python's pip (its index and proxy settings)."""
    # The source release only (--no-binary); pip reads its metadata with a setuptools of its own, in a
    # throwaway build environment, so nothing lands in this Python either.
    result = run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", "configobj",
                  "--disable-pip-version-check", "--timeout", "15", "--retries", "1",
                  "--dest", str(into), f"configobj=={releases.CONFIGOBJ_VERSION}"],
                 timeout=PIP_TIMEOUT, check=False, what="pip download configobj")
    fetched = Path(into) / releases.CONFIGOBJ_SOURCE_RELEASE
    if result.returncode != 0 or not fetched.is_file():
        said = last_meaningful_line(result.stderr) or last_meaningful_line(result.stdout) or "no output"
        if "No module named pip" in said:
            said = "this Python has no pip"
        raise InstallerError(f"{_missing_hint(folder)} (pip could not fetch it: {said})")
    return fetched


def find(root, work, mirror=None, save=True, quiet=False):
    """The verified source release: saved in the source folder, else fetched (and, with save, kept there
    for the next run, as the admin would have saved it)."""
    folder = paths.under(root, paths.SOURCE_DIR)
    saved = folder / releases.CONFIGOBJ_SOURCE_RELEASE
    if saved.is_file():
        return saved
    keep_in = folder if save else Path(work)
    if mirror:
        download.check_url(mirror)
        url = f"{mirror.rstrip('/')}/{releases.CONFIGOBJ_SOURCE_RELEASE}"
        # Checked in a folder beside the download, which goes with it.
        return download.fetch(url, keep_in, saved.name, lambda path: verify(path, Path(path).parent / "checked"),
                              _missing_hint(folder), quiet=quiet)
    pip_folder = Path(work) / "pip-download"
    fetched = _pip_download(pip_folder, folder)
    verify(fetched, pip_folder / "checked")
    if not save:
        return fetched
    keep_in.mkdir(parents=True, exist_ok=True)
    # Copied in under a private name, then renamed: the source folder never holds half a file.
    partial = keep_in / f".{saved.name}.partial"
    shutil.copyfile(fetched, partial)
    partial.replace(saved)
    return saved


class Bootstrap:
    """configobj unpacked for this run: importable by it at once, placed in our library by the transaction."""

    def __init__(self, source_release, work):
        # Verified as the copy that is unpacked: the saved file may be replaced after any earlier look.
        received = verify(source_release, Path(work) / "received-configobj")
        top = tarball.unpack(received, source_release, Path(work) / "configobj", "configobj")
        version = tarball.stated_version(source_release, top, "configobj", f"{PACKAGE_FOLDER}/_version.py",
                                         "__version__")
        package = top / PACKAGE_FOLDER
        if version != releases.CONFIGOBJ_VERSION or not (package / "__init__.py").is_file():
            raise InstallerError(f"{source_release} is not configobj {releases.CONFIGOBJ_VERSION} "
                                 f"with its package in {PACKAGE_FOLDER}/")
        self.version = version
        # Taken before this run imports it, so no __pycache__ from this run is placed.
        self.entries = payload.tree_entries(package, f"{paths.relative(paths.TOOL_LIBRARY)}/configobj")
        sys.path.insert(0, str(package.parent))
        importlib.invalidate_caches()


def ensure(root, work, mirror=None, save=True, quiet=False):
    """None where the installing Python has configobj; otherwise the Bootstrap that gives it one."""
    if importable():
        return None
    return Bootstrap(find(root, work, mirror, save, quiet), work)
