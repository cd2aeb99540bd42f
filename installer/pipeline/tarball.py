"""Find a release tarball, check that its digest is one the admin vouches for, and unpack it safely.

fail2ban's tarball is the main one; pyinotify's source release goes through the same checks.
"""

import hashlib
import os
import re
import shutil
import stat
import tarfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from installer.shared import releases
from installer.shared.digest import CHUNK
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


@dataclass
class Received:
    """A tarball as this run holds it: its private copy (the only file later steps read), the digest of
    exactly those bytes, and notes for the admin about side files that could not vouch for it."""
    copy: Path
    digest: str
    notes: list = field(default_factory=list)


def receive(tarball, folder):
    """Open the tarball once and copy it into `folder` (private to this run) while hashing it.

    Whoever can write the tarball's folder could rename another file over it between a check by path
    and a later open by path; reading one open file into a copy that only this run can reach means
    the bytes hashed are the bytes unpacked and built.
    """
    tarball = Path(tarball)
    try:
        # O_NONBLOCK: a fifo put in the tarball's place must not hang the run; fstat refuses it below.
        source = os.open(tarball, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as error:
        raise InstallerError(f"cannot read {tarball} ({error.strerror})") from None
    with open(source, "rb") as stream:
        if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
            raise InstallerError(f"{tarball} is not a regular file")
        Path(folder).mkdir(mode=0o700, parents=True, exist_ok=True)
        copy = Path(folder) / tarball.name
        digest = hashlib.sha256()
        with open(os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
            for block in iter(lambda: stream.read(CHUNK), b""):
                digest.update(block)
                out.write(block)
    return Received(copy, digest.hexdigest())


def side_file_problem(info, folder_info):
    """Why a side file (stat results of it and its folder) cannot vouch for a tarball, or None.

    A digest vouches only if nobody but its owner could have written it: the file and its folder
    belong to root (or to whoever runs a staged install) and neither is writable by group or others.
    """
    trusted = {0, os.geteuid()}
    if not stat.S_ISREG(info.st_mode):
        return "it is not a regular file"
    if info.st_uid not in trusted:
        return f"it belongs to uid {info.st_uid}, not root"
    if info.st_mode & 0o022:
        return "group or others may write it"
    if folder_info.st_uid not in trusted:
        return f"its folder belongs to uid {folder_info.st_uid}, not root"
    if folder_info.st_mode & 0o022:
        return "group or others may write its folder"
    return None


def _read_side_file(path, ignored):
    """The text of a side file that may vouch, or None (absent, or untrusted: then noted in `ignored`)."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return None
    except OSError as error:
        if os.path.lexists(path):
            ignored.append(f"ignored {path}: {error.strerror}")
        return None
    with open(descriptor, "rb") as stream:
        problem = side_file_problem(os.fstat(stream.fileno()), os.stat(Path(path).parent))
        if problem:
            ignored.append(f"ignored {path}: {problem}")
            return None
        return stream.read(1 << 20).decode(errors="replace")


def vouched_digests(tarball, sha256_option, option="--sha256", ignored=None):
    """(digest, where it came from) pairs the admin vouches for, strongest first. Side files that may
    not vouch are left out and said in `ignored` (a list), never refused: a file anyone could have
    put there adds nothing, and refusing for it would let them block the install."""
    tarball = Path(tarball)
    ignored = [] if ignored is None else ignored
    if sha256_option:
        if not HEX64.match(sha256_option):
            raise InstallerError(f"{option} must be 64 hexadecimal digits, got {sha256_option!r}")
        return [(sha256_option.lower(), option)]
    found = []
    single = tarball.with_name(tarball.name + ".sha256")
    text = _read_side_file(single, ignored)
    if text is not None:
        words = text.split()
        if not words or not HEX64.match(words[0]):
            raise InstallerError(f"{single} does not start with a sha256 digest")
        found.append((words[0].lower(), str(single)))
    sums = tarball.with_name("SHA256SUMS")
    text = _read_side_file(sums, ignored)
    if text is not None:
        for line in text.splitlines():
            words = line.split()
            if len(words) == 2 and HEX64.match(words[0]) and words[1].lstrip("*") == tarball.name:
                found.append((words[0].lower(), str(sums)))
    return found


def verify(tarball, folder, sha256_option=None, option="--sha256", published=releases.PUBLISHED_SHA256,
           publisher="fail2ban"):
    """Copy the tarball into `folder` (see receive) and return the Received copy if its digest matches a
    vouched one or one `published` lists; refuse it otherwise."""
    received = receive(tarball, folder)
    actual = received.digest
    ignored = received.notes
    vouched = vouched_digests(tarball, sha256_option, option, ignored)
    if vouched:
        for digest, origin in vouched:
            if digest != actual:
                raise InstallerError(f"sha256 mismatch for {Path(tarball).name}: it is {actual}, "
                                     f"{origin} says {digest}; download the release again")
        return received
    if actual in published:
        return received
    why = f" ({'; '.join(ignored)})" if ignored else ""
    raise InstallerError(f"{Path(tarball).name} has sha256 {actual}, which nothing vouches for{why}: compare it "
                         f"with the digest {publisher} publishes, then pass {option} with it (or put NAME.sha256 "
                         "beside it, owned by root)")


def _member_problem(member, top):
    """Why a tar member must not be unpacked, or None."""
    name = member.name
    path = PurePosixPath(name)
    if not path.parts:
        return "has no name of its own"
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


def _placement_problem(member, earlier, links):
    """Why a member must not go where it says among the others (earlier: path -> member so far), or None.

    Links that are each harmless can chain out of the release once later ones exist (z -> u/u/../..,
    then u -> .), so nothing may be written under a link, and no name may be given twice.
    """
    path = PurePosixPath(member.name)
    if path in earlier:
        return "is given twice"
    crossed = next((parent for parent in path.parents if parent in links), None)
    if crossed:
        return f"lies under the link {crossed}"
    if member.islnk():
        original = earlier.get(PurePosixPath(member.linkname))
        if not original or not (original.isfile() or original.islnk()):
            return f"is a hard link to {member.linkname}, which is no regular file before it"
    return None


def _open(copy, tarball):
    try:
        return tarfile.open(copy, "r:gz")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
        raise InstallerError(f"{tarball} is not a readable .tar.gz archive ({error})") from None


def extract(received, tarball, into):
    """Unpack fail2ban's release from the Received copy of `tarball` into the folder `into` (empty,
    private to this run) and return the Source."""
    top = unpack(received, tarball, into, "fail2ban")
    return Source(top, stated_version(tarball, top, "fail2ban", "fail2ban/version.py", "version"))


def unpack(received, tarball, into, project):
    """Unpack a release whose single top folder is PROJECT-X.Y.Z from the Received copy of `tarball`
    (named in messages) into `into`; return that folder.

    Every member is checked before anything is written, so a hostile archive writes nothing.
    """
    with _open(received.copy, tarball) as archive:
        try:
            members = archive.getmembers()
        except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
            raise InstallerError(f"{tarball} is truncated or corrupt ({error})") from None
        if not members:
            raise InstallerError(f"{tarball} is empty")
        first = PurePosixPath(members[0].name).parts
        top = first[0] if first else ""
        links = {PurePosixPath(member.name) for member in members if member.issym()}
        earlier = {}
        for member in members:
            problem = _member_problem(member, top) or _placement_problem(member, earlier, links)
            if problem:
                raise InstallerError(f"refusing {tarball}: member {member.name!r} {problem}")
            earlier[PurePosixPath(member.name)] = member
        if not top.startswith(f"{project}-"):
            raise InstallerError(f"{tarball} is not a {project} release: its top folder is {top!r}, "
                                 f"not {project}-X.Y.Z")
        try:
            _write_members(archive, members, Path(into))
        except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
            raise InstallerError(f"{tarball} is truncated or corrupt ({error})") from None
    return Path(into) / top


def _write_members(archive, members, into):
    """Write regular files, folders and in-release links; modes lose set-id bits, owners are ours.

    The checks keep every member out from under a link, and each file is created new without following
    a link, so no write leaves the release; where the links lead is judged once all of them exist.
    """
    release = os.path.realpath(into / PurePosixPath(members[0].name).parts[0])
    for member in members:
        target = into / member.name
        if member.isdir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if member.issym():
            os.symlink(member.linkname, target)
            continue
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        # A hard link is read from the archive, which holds its original's data.
        with os.fdopen(descriptor, "wb") as out, archive.extractfile(member) as data:
            shutil.copyfileobj(data, out)
            os.fchmod(out.fileno(), 0o755 if member.mode & stat.S_IXUSR else 0o644)
    for member in members:
        if member.issym():
            real = os.path.realpath(into / member.name)
            if real != release and not real.startswith(release + os.sep):
                raise InstallerError(f"refusing the archive: member {member.name!r} links outside the release")
    for member in members:
        if member.isdir():
            descriptor = os.open(into / member.name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
            try:
                os.fchmod(descriptor, 0o755)
            finally:
                os.close(descriptor)


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
