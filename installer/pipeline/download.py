"""Fetch a release archive over HTTP(S) into a folder, so that only a verified, complete file ever
appears there under its name.

The archive is written into a private folder created beside its final place (so the last move is a
rename on one file system), checked by the caller's verify, then renamed into place. Whatever goes
wrong, the private folder goes with it: an interrupted or refused download leaves nothing behind.
"""

import http.client
import os
import shutil
import socket
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from installer.shared.errors import InstallerError

# Each connect and each read may wait this long; the whole download this long; release archives are a
# few MB, so anything much larger is not one.
SOCKET_TIMEOUT = 30
WHOLE_DOWNLOAD_TIMEOUT = 600
LARGEST_ARCHIVE = 64 * 1024 * 1024
CHUNK = 64 * 1024
USER_AGENT = "qmail-fail2ban-install"


def check_url(url, option="--mirror"):
    """Only http and https: a file:// or ftp:// mirror would bypass the bounds and errors below."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InstallerError(f"{option} {url}: give an http:// or https:// URL")


class Meter:
    """Progress of one download on the stream: a line redrawn in place on a terminal, a start and an
    end line otherwise (logs stay short)."""

    def __init__(self, url, stream=sys.stdout, quiet=False):
        self.stream, self.quiet = stream, quiet
        self.live = not quiet and hasattr(stream, "isatty") and stream.isatty()
        self.started = time.monotonic()
        self.shown = -1
        self.say(f"Downloading {url}")

    def say(self, text):
        if not self.quiet:
            print(text, file=self.stream, flush=True)

    def update(self, got, total):
        if not self.live:
            return
        percent = got * 100 // total if total else None
        shown = percent if percent is not None else got // (1024 * 1024)
        if shown != self.shown:
            self.shown = shown
            text = f"{percent}% of {total / 1e6:.1f} MB" if total else f"{got / 1e6:.1f} MB"
            print(f"\r  {text}", end="", file=self.stream, flush=True)

    def done(self, got):
        if self.live:
            print("", file=self.stream)
        self.say(f"  got {got / 1e6:.1f} MB in {time.monotonic() - self.started:.1f} s")


def _copy_bounded(response, out, url, meter):
    """Copy the response body into out within the size and time bounds; return the byte count."""
    length = response.headers.get("Content-Length")
    total = int(length) if length and length.isdigit() else None
    if total is not None and total > LARGEST_ARCHIVE:
        raise InstallerError(f"{url} is {total} bytes, far larger than a release archive: check the URL")
    deadline = time.monotonic() + WHOLE_DOWNLOAD_TIMEOUT
    got = 0
    while True:
        if time.monotonic() > deadline:
            raise InstallerError(f"downloading {url} took longer than {WHOLE_DOWNLOAD_TIMEOUT} s: "
                                 "try again, or save the file by hand")
        chunk = response.read(CHUNK)
        if not chunk:
            break
        got += len(chunk)
        if got > LARGEST_ARCHIVE:
            raise InstallerError(f"{url} sends more than {LARGEST_ARCHIVE} bytes, far more than a release "
                                 "archive: check the URL")
        out.write(chunk)
        meter.update(got, total)
    if total is not None and got != total:
        raise InstallerError(f"the download of {url} stopped after {got} of {total} bytes: try again")
    return got


def fetch(url, folder, name, verify, hint, stream=sys.stdout, quiet=False):
    """Download url into folder/name, calling verify(path) on the complete file before it gets that name.

    hint says how to do it by hand; it ends the one line shown when the download cannot be made.
    Returns folder/name; on any failure nothing is left in folder.
    """
    folder = Path(folder)
    final = folder / name
    created = _make_folders(folder)
    private = Path(tempfile.mkdtemp(prefix=f".{name}.download-", dir=folder))
    placed = False
    try:
        partial = private / name
        meter = Meter(url, stream, quiet)
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        try:
            with urllib.request.urlopen(request, timeout=SOCKET_TIMEOUT) as response, open(partial, "wb") as out:
                got = _copy_bounded(response, out, url, meter)
        except urllib.error.HTTPError as error:
            raise InstallerError(f"cannot download {url} (HTTP {error.code} {error.reason}): {hint}") from None
        except urllib.error.URLError as error:
            raise InstallerError(f"cannot download {url} ({error.reason}): {hint}") from None
        except (socket.timeout, TimeoutError):
            raise InstallerError(f"cannot download {url} (no answer within {SOCKET_TIMEOUT} s): {hint}") from None
        except (OSError, ValueError, http.client.HTTPException) as error:
            # A connection reset mid-body, or http.client's own complaints about a broken response.
            raise InstallerError(f"cannot download {url} ({error}): {hint}") from None
        meter.done(got)
        try:
            verify(partial)
        except InstallerError as error:
            raise InstallerError(f"refusing what {url} sent: {error}") from None
        os.chmod(partial, 0o644)
        os.replace(partial, final)
        placed = True
        return final
    finally:
        shutil.rmtree(private, ignore_errors=True)
        if not placed:
            for made in reversed(created):
                made.rmdir()


def _make_folders(folder):
    """Make folder and its missing parents; return those made, outermost first, so a failed download
    can take them away again."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for made in reversed(missing):
        made.mkdir()
    return list(reversed(missing))
