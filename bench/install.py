"""Install: ./install into an empty root from the release tarball, then again with nothing to do.

The reference is what the peers' build amounts to (SlackBuilds.org's fail2ban.SlackBuild):
unpack the tarball, convert a Python 2 release with 2to3, `setup.py install --root=$PKG`; it
has no "nothing to do" path, so a re-run costs the same again.
"""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import Figure, median, tarball
from tests.support.install import install_command, sha256_of

REPEATS = 3


def timed(argv, **kwargs):
    started = time.monotonic()
    result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=600, **kwargs)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))} failed: {result.stdout}{result.stderr}")
    return time.monotonic() - started


def ours(root):
    tar = tarball()
    argv = install_command("--root", root, "--tarball", tar, "--sha256", sha256_of(tar), "--yes", "--quiet")
    return timed(argv), timed(argv)


def reference(folder):
    """Unpack, 2to3 where the release needs it, setup.py install --root: the SlackBuild's steps."""
    started = time.monotonic()
    timed(["tar", "xzf", str(tarball()), "-C", str(folder)])
    source = next(Path(folder).glob("fail2ban-*"))
    if (source / "fail2ban-2to3").is_file():
        scripts = [str(path.relative_to(source)) for path in sorted((source / "bin").iterdir())]
        timed(["/usr/bin/python3", "-m", "lib2to3", "-w", "-n", *scripts, "fail2ban"], cwd=source)
    timed(["/usr/bin/python3", "setup.py", "install", f"--root={Path(folder) / 'package'}", "--prefix=/usr",
           "--without-tests"], cwd=source, env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
    return time.monotonic() - started


def run(progress=print):
    firsts, reruns, references = [], [], []
    for attempt in range(REPEATS):
        progress(f"install: attempt {attempt + 1} of {REPEATS}")
        with tempfile.TemporaryDirectory(prefix="qf2b-bench-install-") as folder:
            first, again = ours(Path(folder) / "root")
            firsts.append(first)
            reruns.append(again)
        with tempfile.TemporaryDirectory(prefix="qf2b-bench-slackbuild-") as folder:
            references.append(reference(folder))
    figures = [
        Figure("first ./install into an empty root", median(firsts), median(references), "s",
               "./install --root", "unpack + setup.py install --root"),
        Figure("./install again, nothing to do", median(reruns), median(references), "s",
               "./install --root", "the same build again", "at most 2 s"),
    ]
    notes = [f"Medians of {REPEATS}, staged with --root into a fresh temporary folder, from the test fixture"
             f" tarball ({tarball().name}); run by {Path(sys.executable).name} {sys.version.split()[0]}.",
             "./install also verifies the sha256, checks `fail2ban-client -V` and runs `fail2ban-client -t`,"
             " which the reference does not."]
    return figures, notes
