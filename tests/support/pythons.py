"""The Pythons 3.12 and newer on this machine: on PATH, or built by pyenv in ~/.pyenv/versions."""

import shutil
import subprocess
from pathlib import Path

NEWER_MINORS = (12, 13, 14)


def runnable(command):
    return bool(command) and subprocess.run([str(command), "-c", "pass"], stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL).returncode == 0


def newer_pythons():
    """{"3.12": path, ...}: one runnable interpreter per minor version 3.12 and newer."""
    found = {}
    for minor in NEWER_MINORS:
        name = f"python3.{minor}"
        candidates = sorted(Path.home().glob(f".pyenv/versions/3.{minor}.*/bin/{name}"), reverse=True)
        candidates.append(shutil.which(name))
        for candidate in candidates:
            if runnable(candidate):
                found[f"3.{minor}"] = str(candidate)
                break
    return found
