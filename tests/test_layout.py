"""The shape of the installer package: no module imports another in a circle, the copy shipped to a
host carries qmail-f2b and what it imports but none of the install pipeline, and that copy runs on
its own; each fact that used to be spelled in several places is spelled once."""

import subprocess
import sys
from pathlib import Path

import pytest

from installer.pipeline import payload
from tests.support.install import REPO

PACKAGE = REPO / "installer"


def module_name(path):
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph():
    """{module: the modules of this package it imports}; a `from X import name` counts for X.name
    where that is a module, else for X."""
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        imported = set()
        for target in payload.imported_modules(path):
            if target in modules:
                imported.add(target)
            elif target.rpartition(".")[0] in modules:
                imported.add(target.rpartition(".")[0])
        graph[name] = imported - {name}
    return graph


def cycle_in(graph):
    """One import cycle as a list of modules, or None."""
    state = {}

    def visit(name, path):
        state[name] = "open"
        for following in sorted(graph[name]):
            # A package's __init__ is imported on the way to its modules, not by them: no edge back.
            if name.startswith(following + "."):
                continue
            if state.get(following) == "open":
                return path[path.index(following):] + [following]
            if following not in state:
                found = visit(following, path + [following])
                if found:
                    return found
        state[name] = "done"
        return None

    for name in sorted(graph):
        if name not in state:
            found = visit(name, [name])
            if found:
                return found
    return None


def test_no_module_imports_another_in_a_circle():
    assert cycle_in(import_graph()) is None


def test_the_cycle_finder_finds_a_cycle():
    assert cycle_in({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_the_shipped_tool_carries_no_pipeline_and_all_it_imports():
    shipped = payload.shipped_modules()
    assert "installer.tool.cli" in shipped
    assert not [name for name in shipped if name.startswith("installer.pipeline")]
    graph = import_graph()
    for name in shipped:
        assert graph[name] <= set(shipped) | {"installer"}, name


@pytest.fixture(scope="module")
def shipped_copy(tmp_path_factory):
    """The tool's files laid out as ./install places them under /usr/lib/qmail-fail2ban."""
    library = tmp_path_factory.mktemp("library")
    for source in payload.shipped_modules().values():
        target = library / source.relative_to(REPO)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(source.read_bytes())
    return library


def run_isolated(library, code):
    """code run by this Python with only the shipped copy (and the standard library, configobj) to import."""
    return subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(library)!r}); {code}"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60, cwd=library)


def test_every_shipped_module_imports_from_the_shipped_copy_alone(shipped_copy):
    names = sorted(payload.shipped_modules())
    result = run_isolated(shipped_copy, f"import importlib; [importlib.import_module(n) for n in {names!r}];"
                                        " import installer; print(installer.__file__)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith(str(shipped_copy))


def test_the_shipped_tool_answers_from_the_shipped_copy(shipped_copy):
    result = run_isolated(shipped_copy, "from installer.tool.cli import main; sys.exit(main(['--help']))")
    assert result.returncode == 0, result.stderr
    assert "doctor" in result.stdout and "ban" in result.stdout


def test_the_pipeline_is_not_in_the_shipped_copy(shipped_copy):
    assert not (shipped_copy / "installer" / "pipeline").exists()
    result = run_isolated(shipped_copy, "import installer.pipeline.install")
    assert result.returncode != 0 and "ModuleNotFoundError" in result.stderr


@pytest.mark.parametrize("spelling", ["127.0.0", "/usr/local/src", "/etc/qmail-fail2ban", "(3, 12)",
                                      '"PYTHONPATH"]', "/var/log/fail2ban.log", "etc/rc.d/rc.fail2ban"])
def test_each_fact_is_spelled_once_in_the_code(spelling):
    places = [f"{path.relative_to(REPO)}:{number}"
              for path in sorted(PACKAGE.rglob("*.py"))
              for number, line in enumerate(Path(path).read_text().splitlines(), 1)
              if spelling in line and not line.lstrip().startswith("#")]
    assert len(places) == 1, places
