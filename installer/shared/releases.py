"""What the installer knows about the releases it builds: fail2ban's and pyinotify's published
digests, and the Pythons each can run on."""

import re

# sha256 of the release archives fail2ban publishes (GitHub tag archives saved as fail2ban-X.Y.Z.tar.gz),
# as packagers record them. Only digests checked against upstream's own file belong here.
PUBLISHED_SHA256 = {
    "4be0ea0488e32de260058462a44a040f0542cd26a9fb6fa6d2514f9dd8ec1609": "1.1.1",
    "474fcc25afdaf929c74329d1e4d24420caabeea1ef2e041a267ce19269570bae": "1.1.0",
    "ae8b0b41f27a7be12d40488789d6c258029b23a01168e3c0d347ee80b325ac23": "1.0.2",
}

# The release ./install fetches when it is given none: 1.1.1 fixes a ReDoS in fail2ban's own dovecot
# and domino-smtp filters (GHSA-33wh-ccjc-p397) and runs on Python 3.12 to 3.14.
NEWEST = "1.1.1"
# Where GitHub serves a tag's archive, as VERSION.tar.gz; a mirror (--mirror URL) serves the same names.
UPSTREAM_ARCHIVES = "https://github.com/fail2ban/fail2ban/archive/refs/tags"


def archive_name(version):
    """The name GitHub (and a browser or wget saving from it) gives a release's archive."""
    return f"{version}.tar.gz"


def saved_name(version):
    """The name ./install saves a release under, the one --tarball and the README use."""
    return f"fail2ban-{version}.tar.gz"


def download_url(version, mirror=None):
    return f"{(mirror or UPSTREAM_ARCHIVES).rstrip('/')}/{archive_name(version)}"


OLDEST_SUPPORTED = (1, 0)

# pyinotify's source releases as PyPI publishes them. Only digests checked against PyPI's own file belong here.
PYINOTIFY_NEWEST = "0.9.6"
PYINOTIFY_SOURCE_RELEASE = f"pyinotify-{PYINOTIFY_NEWEST}.tar.gz"
PYINOTIFY_PUBLISHED_SHA256 = {
    "9c998a5d7606ca835065cdabc013ae6c66eb9ea76a00a1e3bc6e0cfe2b4f71f4": "0.9.6",
}

# configobj's source release as PyPI publishes it: site.conf is read with it. Pure Python (the package
# folder src/configobj/ holds validate too), so where the installing Python lacks it, that folder goes
# into our own library rather than the system's site-packages.
CONFIGOBJ_VERSION = "5.0.9"
CONFIGOBJ_SOURCE_RELEASE = f"configobj-{CONFIGOBJ_VERSION}.tar.gz"
# Where the admin gets it by hand: PyPI's source release, as pip fetches it.
CONFIGOBJ_FETCH = f"pip download --no-deps --no-binary configobj configobj=={CONFIGOBJ_VERSION}"
CONFIGOBJ_PUBLISHED_SHA256 = {
    "03c881bbf23aa07bccf1b837005975993c4ab4427ba57f959afdd9d1a2386848": CONFIGOBJ_VERSION,
}

# fail2ban 1.0.x and pyinotify import asyncore, and setup.py without setuptools falls back to
# distutils: Python 3.12 removed both.
ASYNCORE_AND_DISTUTILS_REMOVED = (3, 12)


def has_asyncore(python):
    """Whether a Python (a (major, minor) tuple) still has asyncore."""
    return tuple(python)[:2] < ASYNCORE_AND_DISTUTILS_REMOVED


def has_distutils(python):
    return tuple(python)[:2] < ASYNCORE_AND_DISTUTILS_REMOVED


def parse_version(text):
    """(1, 1, 0) from '1.1.0' or '1.1.0.dev1'; None when it is not a version."""
    match = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", text or "")
    if not match:
        return None
    return tuple(int(part or 0) for part in match.groups())


def python_problem(release, python):
    """Why a fail2ban release (a version string) cannot run on a Python (a (major, minor) tuple), or None."""
    version = parse_version(release)
    if version is None:
        return f"cannot tell which fail2ban release {release!r} is"
    if version[:2] < OLDEST_SUPPORTED:
        return f"fail2ban {release} is too old: this installer supports 1.0.2 and newer; get {NEWEST}"
    if version[:2] == (1, 0) and not has_asyncore(python):
        return (f"fail2ban {release} cannot run on Python {python[0]}.{python[1]} (it needs asyncore, removed "
                f"in 3.12): use fail2ban 1.1.x ({NEWEST}), or pass --python with a Python 3.11 or older")
    return None


def pyinotify_python_problem(python):
    """Why pyinotify cannot run on a Python (a (major, minor) tuple), or None."""
    if not has_asyncore(python):
        return f"pyinotify cannot run on Python {python[0]}.{python[1]} (it needs asyncore, removed in 3.12)"
    return None


def needs_2to3(source_dir):
    """1.0.x releases ship Python 2 source and their own fail2ban-2to3 converter script."""
    return (source_dir / "fail2ban-2to3").is_file()
