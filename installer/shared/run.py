"""The one place external commands run: each is logged, and a failure becomes one clear line."""

import logging
import os
import shlex
import subprocess

from installer.shared.errors import InstallerError

log = logging.getLogger(__name__)


def last_meaningful_line(text):
    """The line of a tool's output most likely to say why it failed (tracebacks end with it)."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else ""


def run(argv, *, env=None, cwd=None, input=None, timeout=600, check=True, what=None):
    """Run argv (no shell) and return the CompletedProcess with text stdout and stderr.

    With check, a missing program, a time-out or a non-zero exit raises InstallerError whose
    message names `what` (default: the program) and the tool's own last line of complaint.
    """
    argv = [os.fspath(arg) for arg in argv]
    what = what or os.path.basename(argv[0])
    log.debug("run: %s%s", shlex.join(argv), f"  (in {cwd})" if cwd else "")
    try:
        result = subprocess.run(
            argv, env=env, cwd=cwd, input=input, timeout=timeout,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
        )
    except FileNotFoundError:
        raise InstallerError(f"{what} failed: {argv[0]} is not installed or not on PATH") from None
    except subprocess.TimeoutExpired:
        raise InstallerError(f"{what} failed: {shlex.join(argv)} did not finish within {timeout} s") from None
    log.debug("exit %d%s%s", result.returncode,
              "\n" + result.stdout.rstrip() if result.stdout.strip() else "",
              "\n" + result.stderr.rstrip() if result.stderr.strip() else "")
    if check and result.returncode != 0:
        reason = last_meaningful_line(result.stderr) or last_meaningful_line(result.stdout)
        raise InstallerError(f"{what} failed (exit {result.returncode}): {reason or 'no output'}")
    return result
