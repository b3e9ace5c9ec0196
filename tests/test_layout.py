"""The package's layout rules: only ``nas.search`` imports Ray, and ``nas.sr`` and ``nas.trained`` import neither
Optuna nor Ray.

Imports are read from the source (every ``import`` statement, also inside functions) and followed through the
package's own modules, so a rule cannot be broken through an intermediate module either. The command line
(``nas.cli``, ``nas.__main__``) composes every layer and is exempt. Facts have one home: a default's literal, and
every path of a study folder (``StudyFolder``), are spelled in one module only.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from nas.study.folder import Kind, StudyFolder

PACKAGE = Path(__file__).resolve().parents[1] / "nas"
ENTRY_POINTS = ("cli", "__main__")


def module_files(package: Path) -> dict[str, Path]:
    """Dotted module name → file, for every module of ``package``."""
    files = {}
    for path in package.rglob("*.py"):
        parts = path.relative_to(package.parent).with_suffix("").parts
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return files


def direct_imports(path: Path) -> set[str]:
    """Every module a file imports, anywhere in it (relative imports are not used in this package)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def reached_imports(module: str, files: dict[str, Path]) -> dict[str, str]:
    """Every module ``module`` imports directly or through the package's own modules, with the package module
    that imports it."""
    reached: dict[str, str] = {}
    pending = [module]
    seen = set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        for name in direct_imports(files[current]):
            reached.setdefault(name, current)
            for candidate in (name, name.rpartition(".")[0]):
                if candidate in files:
                    pending.append(candidate)
                    break
    return reached


def violations(package: Path) -> list[str]:
    """Each broken rule, as ``module imports X (in Y)``."""
    files = module_files(package)
    name = package.name
    found = []
    for module in sorted(files):
        if module.removeprefix(f"{name}.") in ENTRY_POINTS:
            continue
        reached = reached_imports(module, files)
        forbidden = ["ray"] if not module.startswith(f"{name}.search") else []
        if module.startswith((f"{name}.sr", f"{name}.trained")):
            forbidden = ["ray", "optuna"]
        for imported, importer in sorted(reached.items()):
            if imported.split(".")[0] in forbidden:
                found.append(f"{module} imports {imported} (in {importer})")
    return found


def test_only_the_search_package_imports_ray_and_the_sr_layer_neither_optuna_nor_ray() -> None:
    assert violations(PACKAGE) == []


@pytest.mark.parametrize(
    ("module", "source", "message"),
    [
        ("sr/metrics.py", "import optuna\n", "nas.sr.metrics imports optuna"),
        ("sr/data.py", "def load():\n    from ray import tune\n", "nas.sr.data imports ray"),
        ("sr/data.py", "from nas.report import study_figures\n", "nas.sr.data imports ray.tune (in nas.report.study_figures)"),
        ("report/build.py", "import ray\n", "nas.report.build imports ray"),
    ],
)
def test_the_rule_check_finds_a_planted_violation(tmp_path: Path, module: str, source: str, message: str) -> None:
    package = tmp_path / "nas"
    for sub in ("sr", "report", "search"):
        (package / sub).mkdir(parents=True)
        (package / sub / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "search" / "run.py").write_text("import ray\n")
    (package / "report" / "study_figures.py").write_text("from ray import tune\n")
    (package / module).write_text(source)
    found = violations(package)
    assert any(line.startswith(message) for line in found), found


def test_importing_the_sr_layer_and_the_package_loads_neither_optuna_nor_ray() -> None:
    code = (
        "import sys, nas, nas.sr.evaluate, nas.sr.weight_files, nas.sr.data; "
        "print(sorted(m for m in ('ray', 'optuna') if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"


# A default stated once: the literal may appear in its home module only (help texts quote values, not code).
DEFAULTS_AT_HOME = {
    "2**31": "nas/core/settings.py",  # MAX_SEED
    "= 0.05": "nas/core/settings.py",  # DEFAULT_MARGIN_DB, DEFAULT_ALPHA
    '= "uniform:"': "nas/core/genotypes.py",  # UNIFORM_PREFIX
    '("uniform:': "nas/core/genotypes.py",
    'f"uniform:': "nas/core/genotypes.py",
    'register("none"': "blocks/__init__.py",  # NO_ATTENTION
}


@pytest.mark.parametrize("literal", list(DEFAULTS_AT_HOME))
def test_each_default_is_written_in_one_module_only(literal: str) -> None:
    root = PACKAGE.parent
    found = {
        str(path.relative_to(root))
        for folder in ("nas", "blocks")
        for path in (root / folder).rglob("*.py")
        if literal in path.read_text()
    }
    assert found <= {DEFAULTS_AT_HOME[literal]}, f"{literal!r} is spelled outside its home: {sorted(found)}"


def study_folder_names() -> set[str]:
    """Every file and folder name of a study folder's layout, as ``StudyFolder`` spells them."""
    folder = StudyFolder(Path("study"))
    paths = [getattr(folder, name) for name, value in vars(StudyFolder).items() if isinstance(value, property)]
    for kind in Kind:
        paths += [folder.trials_csv_of(kind), folder.trial_log(1, kind)]
    return {path.name for path in paths if path != folder.root}


def spelled_paths(path: Path, names: set[str]) -> list[str]:
    """String constants of ``path`` (docstrings aside) that spell a study-folder path: a file name of the layout
    anywhere, a folder name joined with ``/``, or a piece of a trial's file name."""
    tree = ast.parse(path.read_text())
    docstrings = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
    joined = {id(side) for node in ast.walk(tree) if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div)
              for side in (node.left, node.right)}  # fmt: skip
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant) or not isinstance(node.value, str) or id(node) in docstrings:
            continue
        text = node.value
        file_name = text in names and "." in text
        if file_name or (text in names and id(node) in joined) or any(p in text for p in ("trial-", "trials-")):
            found.append(f"{path}:{node.lineno}: {text!r}")
    return found


def test_no_study_folder_path_is_spelled_outside_the_study_folder_type(tmp_path: Path) -> None:
    names = study_folder_names()
    assert {"optuna.journal", "trials.csv", "search.lock", "tune", "report", "pareto.csv", "dashboard"} <= names
    home = PACKAGE / "study" / "folder.py"
    sources = [p for folder in ("nas", "blocks") for p in (PACKAGE.parent / folder).rglob("*.py") if p != home]
    assert [line for source in sources for line in spelled_paths(source, names)] == []
    planted = tmp_path / "planted.py"
    planted.write_text(
        '"""Writes trials.csv."""\nkeys = {"report": 1, "csv": "trials.csv"}\n'
        'log = root / "report" / f"confirmation-trial-{1:05d}.log"\n'
    )
    found = sorted(line.split(": ", 1)[1] for line in spelled_paths(planted, names))
    assert found == ["'confirmation-trial-'", "'report'", "'trials.csv'"]
