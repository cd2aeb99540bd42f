"""Build fail2ban, and pyinotify where it is wanted, with each release's own setup.py into one private
stage, and check that they run."""

import os
import shutil
from pathlib import Path

from installer.shared import releases
from installer.shared.errors import InstallerError
from installer.shared.fail2ban import python_env
from installer.shared.paths import BIN_DIR, CLIENT, PREFIX, under
from installer.shared.run import last_meaningful_line, run

# Fixed so that two builds of one release byte-compile to identical files (hash-checked .pyc).
REPRODUCIBLE_EPOCH = "315532800"


def build_env():
    env = dict(os.environ, SOURCE_DATE_EPOCH=REPRODUCIBLE_EPOCH, LC_ALL="C.UTF-8")
    for inherited in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "PYTHONHOME"):
        env.pop(inherited, None)
    return env


def convert_to_python3(interpreter, source):
    """What upstream's fail2ban-2to3 does, with the chosen Python's lib2to3 and no .bak files."""
    scripts = sorted(str(path.relative_to(source)) for path in (source / "bin").iterdir() if path.is_file())
    run([interpreter.path, "-m", "lib2to3", "--write", "--nobackups", "--no-diffs", *scripts, "fail2ban"],
        cwd=source, env=build_env(), what="converting fail2ban's Python 2 source (2to3)")


def copy_source(source, workdir):
    """A private copy of the pristine source to build in (setup.py writes build/ and egg-info beside itself)."""
    tree = Path(workdir) / "build" / source.path.name
    shutil.copytree(source.path, tree, symlinks=True)
    return tree


def setup_py_install(project, version, tree, interpreter, stage, *options):
    """`setup.py install` of one release into stage, laid out as it will be under the root."""
    result = run([interpreter.path, "setup.py", "install", f"--root={stage}", f"--prefix={PREFIX}",
                  f"--install-lib={interpreter.site_dir}", f"--install-scripts={BIN_DIR}", *options],
                 cwd=tree, env=build_env(), check=False, what=f"building {project} {version}")
    if result.returncode != 0:
        if "invalid command 'install'" in result.stderr:
            raise InstallerError(f"the setuptools of {interpreter.path} ({interpreter.setuptools}) no longer has "
                                 f"'setup.py install', which {project}'s setup.py needs: install an older setuptools")
        reason = last_meaningful_line(result.stderr) or last_meaningful_line(result.stdout)
        raise InstallerError(f"building {project} {version} failed: {reason}")


def build(source, interpreter, workdir):
    """Copy the pristine source into workdir, build there, and install into workdir/stage; return the stage."""
    tree = copy_source(source, workdir)
    if releases.needs_2to3(tree):
        convert_to_python3(interpreter, tree)
    stage = Path(workdir) / "stage"
    setup_py_install("fail2ban", source.version, tree, interpreter, stage, "--without-tests")
    return stage, tree


def build_pyinotify(source, interpreter, workdir, stage):
    """Install pyinotify into fail2ban's stage; return the files it placed there, relative to the root."""
    tree = copy_source(source, workdir)
    record = Path(workdir) / "pyinotify-files.txt"
    setup_py_install("pyinotify", source.version, tree, interpreter, stage, f"--record={record}")
    # With --root, setup.py records each file as it will lie under the root.
    return sorted(line.lstrip("/") for line in record.read_text().splitlines() if line.strip())


def check_version(root, interpreter, expected):
    """Run the installed fail2ban-client -V from root and insist it names the release we built."""
    env = python_env(root, interpreter.site_dir, build_env())
    client = under(root, CLIENT)
    result = run([client, "-V"], env=env, check=False, what="fail2ban-client -V")
    if result.returncode != 0 or expected not in result.stdout:
        said = last_meaningful_line(result.stderr) or last_meaningful_line(result.stdout) or "nothing"
        raise InstallerError(f"the installed fail2ban-client -V does not run as fail2ban {expected} "
                             f"on {interpreter.label}: it said {said}")
    return result.stdout.strip()
