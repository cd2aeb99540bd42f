"""The end of a log file, and what gets added to it, the way tail -n N -F shows them."""

import os
import time

BLOCK = 64 * 1024


def last_lines(path, count):
    """The last count lines of the file (as text), reading backwards so a large log costs little."""
    if count <= 0:
        return []
    with open(path, "rb") as log:
        end = log.seek(0, os.SEEK_END)
        data = b""
        position = end
        while position > 0 and data.count(b"\n") <= count:
            step = min(BLOCK, position)
            position -= step
            log.seek(position)
            data = log.read(step) + data
    lines = data.decode("utf-8", errors="replace").splitlines()
    return lines[-count:]


def follow(path, write, interval=0.5):
    """Pass every line added to the file to write, from its current end, until interrupted.

    A rotated log (a new file under the name) or a truncated one is read again from its start.
    """
    log = open(path, "rb")
    log.seek(0, os.SEEK_END)
    pending = b""
    try:
        while True:
            chunk = log.read()
            if chunk:
                pending += chunk
                *complete, pending = pending.split(b"\n")
                for line in complete:
                    write(line.decode("utf-8", errors="replace"))
                continue
            if _replaced(log, path):
                log.close()
                log = open(path, "rb")
                pending = b""
                continue
            time.sleep(interval)
    finally:
        log.close()


def _replaced(log, path):
    try:
        now = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(log.fileno())
    return (now.st_ino, now.st_dev) != (held.st_ino, held.st_dev) or now.st_size < log.tell()
