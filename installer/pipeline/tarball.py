"""Find a release tarball, check that its digest is one the admin vouches for, and unpack it safely.

fail2ban's tarball is the main one; pyinotify's source release goes through the same checks.
"""

import os
import re
import shutil
import stat
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from installer.shared import releases
from installer.shared.digest import sha256_file
from installer.shared.errors import InstallerError

HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


@dataclass
class Source:
    """An unpacked release: its folder (named PROJECT-X.Y.Z) and the version its own source states."""
    path: Path
    version: str


def version_from_name(tarball, project="fail2ban"):
    """The release a tarball's name states: PROJECT-X.Y.Z.tar.gz, or X.Y.Z.tar.gz as GitHub names tag archives."""
    match = re.match(rf"^(?:{re.escape(project)}-)?(\d+\.\d+(?:\.\d+)?)\.tar\.gz$", Path(tarball).name)
    return match.group(1) if match else None


def find_newest(folder, project="fail2ban"):
    """The newest PROJECT-X.Y.Z.tar.gz in folder, or None."""
    candidates = [path for path in Path(folder).glob(f"{project}-*.tar.gz") if version_from_name(path, project)]
    if not candidates:
        return None
    return max(candidates, key=lambda path: releases.parse_version(version_from_name(path, project)))


def vouched_digests(tarball, sha256_option, option="--sha256"):
    """(digest, where it came from) pairs the admin vouches for, strongest first."""
    tarball = Path(tarball)
    if sha256_option:
        if not HEX64.match(sha256_option):
            raise InstallerError(f"{option} must be 64 hexadecimal digits, got {sha256_option!r}")
        return [(sha256_option.lower(), option)]
    found = []
    single = tarball.with_name(tarball.name + ".sha256")
    if single.is_file():
        words = single.read_text(errors="replace").split()
        if not words or not HEX64.match(words[0]):
            raise InstallerError(f"{single} does not start with a sha256 digest")
        found.append((words[0].lower(), str(single)))
    sums = tarball.with_name("SHA256SUMS")
    if sums.is_file():
        for line in sums.read_text(errors="replace").splitlines():
            words = line.split()
            if len(words) == 2 and HEX64.match(words[0]) and words[1].lstrip("*") == tarball.name:
                found.append((words[0].lower(), str(sums)))
    return found


def verify(tarball, sha256_option=None, option="--sha256", published=releases.PUBLISHED_SHA256,
           publisher="fail2ban"):
    """Return the tarball's digest if it matches a vouched one or one `published` lists; refuse it otherwise."""
    actual = sha256_file(tarball)
    vouched = vouched_digests(tarball, sha256_option, option)
    if vouched:
        for digest, origin in vouched:
            if digest != actual:
                raise InstallerError(f"sha256 mismatch for {Path(tarball).name}: it is {actual}, "
                                     f"{origin} says {digest}; download the release again")
        return actual
    if actual in published:
        return actual
    raise InstallerError(f"{Path(tarball).name} has sha256 {actual}, which nothing vouches for: compare it with "
                         f"the digest {publisher} publishes, then pass {option} with it (or put NAME.sha256 beside it)")


def _member_problem(member, top):
    """Why a tar member must not be unpacked, or None."""
    name = member.name
    path = PurePosixPath(name)
    if path.is_absolute() or name.startswith("/"):
        return "has an absolute path"
    if ".." in path.parts:
        return "climbs out with '..'"
    if path.parts[0] != top:
        return f"lies outside the single top folder {top}/"
    if member.isdev() or member.isfifo():
        return "is a device or fifo"
    if member.issym() or member.islnk():
        target = PurePosixPath(member.linkname)
        base = path.parent if member.issym() else PurePosixPath()
        if target.is_absolute():
            return f"links outside the release to {member.linkname}"
        resolved = []
        for part in (base / target).parts:
            if part == "..":
                if not resolved:
                    return f"links outside the release to {member.linkname}"
                resolved.pop()
            elif part != ".":
                resolved.append(part)
        if not resolved or resolved[0] != top or (member.islnk() and len(resolved) < 2):
            return f"links outside the release to {member.linkname}"
    elif not (member.isfile() or member.isdir()):
        return "is of a kind a release never holds"
    return None


def _open(tarball):
    try:
        return tarfile.open(tarball, "r:gz")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
        raise InstallerError(f"{tarball} is not a readable .tar.gz archive ({error})") from None


def extract(tarball, into):
    """Unpack fail2ban's release into the folder `into` (empty, private to this run) and return the Source."""
    top = unpack(tarball, into, "fail2ban")
    return Source(top, stated_version(tarball, top, "fail2ban", "fail2ban/version.py", "version"))


def unpack(tarball, into, project):
    """Unpack a release whose single top folder is PROJECT-X.Y.Z into `into`; return that folder.

    Every member is checked before anything is written, so a hostile archive writes nothing.
    """
    with _open(tarball) as archive:
        try:
            members = archive.getmembers()
        except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
            raise InstallerError(f"{tarball} is truncated or corrupt ({error})") from None
        if not members:
            raise InstallerError(f"{tarball} is empty")
        top = PurePosixPath(members[0].name).parts[0] if members[0].name else ""
        if not top.startswith(f"{project}-"):
            raise InstallerError(f"{tarball} is not a {project} release: its top folder is {top!r}, "
                                 f"not {project}-X.Y.Z")
        for member in members:
            problem = _member_problem(member, top)
            if problem:
                raise InstallerError(f"refusing {tarball}: member {member.name!r} {problem}")
        try:
            _write_members(archive, members, Path(into))
        except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
            raise InstallerError(f"{tarball} is truncated or corrupt ({error})") from None
    return Path(into) / top


def _write_members(archive, members, into):
    """Write regular files, folders and in-release links; modes lose set-id bits, owners are ours."""
    release = os.path.realpath(into / PurePosixPath(members[0].name).parts[0])
    for member in members:
        target = into / member.name
        # Links checked one by one can still chain out of the release; the real path tells.
        real = os.path.realpath(target.parent)
        if len(PurePosixPath(member.name).parts) > 1 and real != release and not real.startswith(release + os.sep):
            raise InstallerError(f"refusing the archive: member {member.name!r} would be written through a link")
        if member.isdir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if member.issym():
            os.symlink(member.linkname, target)
            real = os.path.realpath(target)
            if real != release and not real.startswith(release + os.sep):
                raise InstallerError(f"refusing the archive: member {member.name!r} links outside the release")
            continue
        if member.islnk():
            shutil.copyfile(into / member.linkname, target)
        else:
            with archive.extractfile(member) as data, open(target, "wb") as out:
                shutil.copyfileobj(data, out)
        os.chmod(target, 0o755 if member.mode & stat.S_IXUSR else 0o644)
    for member in members:
        if member.isdir():
            os.chmod(into / member.name, 0o755)


def stated_version(tarball, top, project, module, variable):
    """The version a release's own source states: `variable = "X.Y.Z"` in the file `module` under its top folder."""
    module_file = top / module
    if not (top / "setup.py").is_file() or not module_file.is_file():
        raise InstallerError(f"{tarball} is not a {project} release: it has no setup.py "
                             f"and {module} in its top folder")
    match = re.search(rf'^{variable}\s*=\s*["\']([^"\']+)["\']', module_file.read_text(errors="replace"), re.M)
    if not match:
        raise InstallerError(f"{module_file.name} in {tarball} states no version")
    return match.group(1)
