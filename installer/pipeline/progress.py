"""Numbered progress lines: `[3/8] Building fail2ban 1.1.0 ... ok (4.1 s)`."""

import sys
import time
from contextlib import contextmanager


class Progress:
    def __init__(self, total, quiet=False, stream=sys.stdout):
        self.total = total
        self.number = 0
        self.quiet = quiet
        self.stream = stream

    def say(self, text):
        if not self.quiet:
            print(text, file=self.stream, flush=True)

    @contextmanager
    def step(self, title):
        self.number += 1
        if not self.quiet:
            print(f"[{self.number}/{self.total}] {title} ... ", end="", file=self.stream, flush=True)
        started = time.monotonic()
        try:
            yield
        except BaseException:
            if not self.quiet:
                print("FAILED", file=self.stream, flush=True)
            raise
        if not self.quiet:
            print(f"ok ({time.monotonic() - started:.1f} s)", file=self.stream, flush=True)
