"""pyinotify from its source release: built into fail2ban's stage, recorded, kept on re-runs, removed by
uninstall; refused like fail2ban's tarball when its digest or contents are wrong; left alone where the
Python already has a pyinotify of someone else's."""

import json
import os
import shutil
import subprocess

import pytest

from installer.pipeline.logwatch import polling_advice
from installer.shared import releases
from tests.fixture.variants import with_extra_members
from tests.support.install import REPO, install_command, install_on, run_install, sha256_of
from tests.support.throwaway import changed_paths
from tests.support.treestate import tree_state

MANIFEST = "var/lib/qmail-fail2ban/manifest"
IMPORT_PYINOTIFY = "import pyinotify; pyinotify.WatchManager().close(); print(pyinotify.__file__)"


def install_into(root, fail2ban_tarball, *extra):
    return run_install("--root", root, "--tarball", fail2ban_tarball, "--sha256", sha256_of(fail2ban_tarball),
                       "--yes", *extra)


def with_pyinotify(tarball):
    return "--pyinotify-tarball", tarball, "--pyinotify-sha256", sha256_of(tarball)


def manifest_of(root):
    return json.loads((root / MANIFEST).read_text())


def site_dir(root):
    return root / manifest_of(root)["release"]["site_dir"].lstrip("/")


def pyinotify_paths(manifest):
    """Recorded paths of a pyinotify module, its byte code or metadata in the site folder (not fail2ban's
    filterpyinotify)."""
    site = manifest["release"]["site_dir"].lstrip("/") + "/"
    return [path for path in manifest["files"] if path.startswith(site)
            and path[len(site):].removeprefix("__pycache__/").startswith("pyinotify")]


def jail_local_backend(root):
    lines = (root / "etc/fail2ban/jail.local").read_text().splitlines()
    return next(line for line in lines if line.startswith("backend = ")).split(" = ")[1]


def assert_refused(result, root, before, *words):
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0
    assert len(lines) == 1 and lines[0].startswith("install: error: "), result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    assert tree_state(root) == before


@pytest.fixture(scope="module")
def staged_with_pyinotify(tmp_path_factory, fixture_tarball, pyinotify_tarball):
    root = tmp_path_factory.mktemp("with-pyinotify") / "root"
    result = install_into(root, fixture_tarball, *with_pyinotify(pyinotify_tarball))
    assert result.returncode == 0, result.stderr
    return root, result


def test_staged_pyinotify_imports_from_the_stage_under_the_system_python(staged_with_pyinotify):
    root, _ = staged_with_pyinotify
    env = dict(os.environ, PYTHONPATH=str(site_dir(root)), PYTHONDONTWRITEBYTECODE="1")
    imported = subprocess.run(["/usr/bin/python3", "-c", IMPORT_PYINOTIFY], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip() == str(site_dir(root) / "pyinotify.py")


def test_manifest_records_pyinotify_and_jail_local_names_it(staged_with_pyinotify, pyinotify_tarball):
    root, result = staged_with_pyinotify
    manifest = manifest_of(root)
    record = manifest["release"]["pyinotify"]
    assert record["version"] == "0.9.6" and record["sha256"] == sha256_of(pyinotify_tarball)
    site = manifest["release"]["site_dir"].lstrip("/")
    assert f"{site}/pyinotify.py" in record["files"]
    assert sorted(pyinotify_paths(manifest)) == sorted(record["files"])
    for path in record["files"]:
        assert manifest["files"][path]["sha256"] == sha256_of(root / path), path
    assert jail_local_backend(root) == "pyinotify"
    steps = [line for line in result.stdout.splitlines() if line.startswith("[")]
    assert len(steps) == 8
    assert steps[1].startswith("[2/8] Verifying the sha256 of fail2ban-1.0.2.tar.gz and pyinotify-0.9.6.tar.gz")
    assert steps[3].startswith("[4/8] Building fail2ban 1.0.2 and pyinotify 0.9.6 with Python 3.")
    assert "fail2ban 1.0.2 and pyinotify 0.9.6 installed" in result.stdout


def test_rerun_with_and_without_its_tarball_changes_nothing_and_uninstall_removes_it(
        tmp_path, fixture_tarball, pyinotify_tarball):
    root = tmp_path / "root"
    source = root / "usr/local/src"
    source.mkdir(parents=True)
    shutil.copy(pyinotify_tarball, source)
    (source / f"{pyinotify_tarball.name}.sha256").write_text(f"{sha256_of(pyinotify_tarball)}\n")
    before = tree_state(root)
    first = install_into(root, fixture_tarball, "--quiet")
    assert first.returncode == 0, first.stderr
    assert (site_dir(root) / "pyinotify.py").is_file()
    installed = tree_state(root)
    again = install_into(root, fixture_tarball)
    assert again.returncode == 0 and "Nothing to do" in again.stdout, again.stderr
    assert tree_state(root) == installed
    # The admin tidies /usr/local/src: the pyinotify placed earlier stays as it is.
    for name in (pyinotify_tarball.name, f"{pyinotify_tarball.name}.sha256"):
        (source / name).unlink()
        del installed[f"usr/local/src/{name}"], before[f"usr/local/src/{name}"]
    tidied = install_into(root, fixture_tarball)
    assert tidied.returncode == 0 and "Nothing to do" in tidied.stdout, tidied.stderr
    assert tree_state(root) == installed
    assert run_install("--root", root, "--uninstall", "--quiet").returncode == 0
    assert tree_state(root) == before


def test_without_a_pyinotify_tarball_nothing_changes_from_before(staged):
    manifest = manifest_of(staged.root)
    assert "pyinotify" not in manifest["release"]
    assert pyinotify_paths(manifest) == []
    assert jail_local_backend(staged.root) == "auto"


def test_a_pyinotify_of_someone_elses_on_the_root_is_left_alone(tmp_path, fixture_tarball, pyinotify_tarball):
    root = tmp_path / "root"
    theirs = root / "usr/lib/python3/dist-packages/pyinotify.py"
    theirs.parent.mkdir(parents=True)
    module = subprocess.run(["tar", "-xzOf", str(pyinotify_tarball), "pyinotify-0.9.6/python3/pyinotify.py"],
                            stdout=subprocess.PIPE, check=True).stdout
    theirs.write_bytes(module + b"# the distribution's copy\n")
    result = install_into(root, fixture_tarball, *with_pyinotify(pyinotify_tarball),
                          "--python", "/usr/bin/python3")
    assert result.returncode == 0, result.stderr
    assert f"already imports a working pyinotify from {theirs}" in result.stdout
    assert theirs.read_bytes().endswith(b"# the distribution's copy\n")
    manifest = manifest_of(root)
    assert "pyinotify" not in manifest["release"]
    assert pyinotify_paths(manifest) == []
    assert jail_local_backend(root) == "auto"


@pytest.mark.parametrize("digest, words", [
    ("0" * 64, ["sha256 mismatch", "--pyinotify-sha256"]),
    (None, ["nothing vouches for", "PyPI", "--pyinotify-sha256"]),
])
def test_a_pyinotify_digest_nobody_vouches_for_is_refused(tmp_path, fixture_tarball, pyinotify_tarball,
                                                          digest, words):
    root = tmp_path / "root"
    root.mkdir()
    before = tree_state(root)
    extra = ["--pyinotify-sha256", digest] if digest else []
    result = install_into(root, fixture_tarball, "--pyinotify-tarball", pyinotify_tarball, *extra)
    assert_refused(result, root, before, sha256_of(pyinotify_tarball), *words)


@pytest.mark.parametrize("member, complaint", [
    (dict(name="pyinotify-0.9.6/../escaped", data=b"x"), "'..'"),
    (dict(name="/etc/cron.d/evil", data=b"x"), "absolute"),
])
def test_a_hostile_pyinotify_tarball_is_refused(tmp_path, fixture_tarball, pyinotify_tarball, member, complaint):
    root = tmp_path / "root"
    root.mkdir()
    hostile = with_extra_members(pyinotify_tarball, tmp_path / pyinotify_tarball.name, member)
    before = tree_state(root)
    result = install_into(root, fixture_tarball, *with_pyinotify(hostile))
    assert_refused(result, root, before, complaint)
    assert not (tmp_path / "escaped").exists()


def test_another_tarball_given_as_pyinotify_is_refused(tmp_path, fixture_tarball):
    root = tmp_path / "root"
    root.mkdir()
    before = tree_state(root)
    result = install_into(root, fixture_tarball, *with_pyinotify(fixture_tarball))
    assert_refused(result, root, before, "not a pyinotify release")


def test_pyinotify_sha256_without_a_pyinotify_tarball_is_refused(tmp_path, fixture_tarball):
    root = tmp_path / "root"
    root.mkdir()
    before = tree_state(root)
    result = install_into(root, fixture_tarball, "--pyinotify-sha256", "0" * 64)
    assert_refused(result, root, before, "no pyinotify-X.Y.Z.tar.gz", "--pyinotify-tarball")


def test_python_rule_for_pyinotify():
    assert releases.pyinotify_python_problem((3, 11)) is None
    assert "asyncore" in releases.pyinotify_python_problem((3, 12))
    assert "asyncore" in releases.pyinotify_python_problem((3, 13))


def test_advice_names_the_source_release_and_the_package(tmp_path):
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--without-pip", str(tmp_path / "bare")], check=True)
    (tmp_path / "root/etc").mkdir(parents=True)
    (tmp_path / "root/etc/debian_version").write_text("12.0\n")
    said = polling_advice(str(tmp_path / "bare/bin/python"), (3, 11), root=tmp_path / "root")
    assert f"save {releases.PYINOTIFY_SOURCE_RELEASE} from PyPI in /usr/local/src" in said
    assert "apt-get install python3-pyinotify" in said and "run ./install again" in said and "\n" not in said


def test_a_live_host_whose_python_has_the_distributions_pyinotify_keeps_it(throwaway, fixture_tarball,
                                                                            pyinotify_tarball):
    system = subprocess.run(["/usr/bin/python3", "-c", IMPORT_PYINOTIFY], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    if system.returncode != 0:
        pytest.skip("this machine's /usr/bin/python3 has no pyinotify (run-tests installs python3-pyinotify)")
    theirs = system.stdout.strip()
    result = install_on(throwaway, fixture_tarball, *with_pyinotify(pyinotify_tarball), "--yes")
    assert f"already imports a working pyinotify from {theirs}" in result.stdout
    assert theirs not in changed_paths(throwaway)
    assert throwaway.host.file("/etc/fail2ban/jail.local").contains("^backend = pyinotify")
    manifest = json.loads(throwaway.host.file("/" + MANIFEST).content_string)
    assert "pyinotify" not in manifest["release"]
    assert pyinotify_paths(manifest) == []


def test_a_live_host_whose_python_lacks_pyinotify_gets_ours_until_uninstall(throwaway, fixture_tarball,
                                                                            pyinotify_tarball):
    # Only inside the throwaway: the distribution's copy goes, so the system Python lacks pyinotify.
    throwaway.run("rm -rf /usr/lib/python3/dist-packages/pyinotify.py /usr/lib/python3/dist-packages/pyinotify-*",
                  check=True)
    lacks = "/usr/bin/python3 -c 'import pyinotify'"
    assert throwaway.run(lacks).returncode != 0
    first = install_on(throwaway, fixture_tarball, *with_pyinotify(pyinotify_tarball), "--yes")
    assert "fail2ban 1.0.2 and pyinotify 0.9.6 installed" in first.stdout
    assert "poll" not in first.stdout
    manifest = json.loads(throwaway.host.file("/" + MANIFEST).content_string)
    module = f"/{manifest['release']['site_dir'].lstrip('/')}/pyinotify.py"
    imported = throwaway.run(f"/usr/bin/python3 -c '{IMPORT_PYINOTIFY}'")
    assert imported.returncode == 0 and imported.stdout.strip() == module, imported.stderr
    assert module.lstrip("/") in manifest["release"]["pyinotify"]["files"]
    assert throwaway.host.file("/etc/fail2ban/jail.local").contains("^backend = pyinotify")
    again = install_on(throwaway, fixture_tarball, *with_pyinotify(pyinotify_tarball), "--yes")
    assert "Nothing to do: fail2ban 1.0.2, pyinotify 0.9.6 and every file" in again.stdout
    uninstall = throwaway.run(f"cd {REPO} && {' '.join(map(str, install_command('--uninstall', '--quiet')))}")
    assert uninstall.returncode == 0, uninstall.stderr
    assert throwaway.run(lacks).returncode != 0
