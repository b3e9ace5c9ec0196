"""The package's layout rules: each stage imports only its own and the stages below it (the report and the search
never each other), only ``nas.search`` imports Ray, and ``nas.sr`` and ``nas.trained`` import neither Optuna nor Ray.

Imports are read from the source (every ``import`` statement, also inside functions). The stage order is checked
for every import of every module of ``nas/`` and ``blocks/``; the Ray and Optuna rules are followed through the
package's own modules, so they cannot be broken through an intermediate module either. The command line
(``nas.cli``, ``nas.__main__``) composes every layer: it is the top stage, and exempt from the Ray rule. Facts have
one home: a default's literal, and every path of a study folder (``StudyFolder``), are spelled in one module only.
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
# The stages, bottom up: a module imports modules of its own stage and of the stages below it only.
STAGES = (
    ("blocks", ("blocks",)),
    ("common", ("nas.errors", "nas.json_values", "nas.devices", "nas.paths", "nas.files")),
    ("sr", ("nas.sr",)),
    ("core", ("nas.core",)),
    ("trained", ("nas.trained",)),
    ("study", ("nas.study",)),
    ("search", ("nas.search",)),
    ("report", ("nas.report",)),
    ("command line", ("nas.cli", "nas.__main__", "nas")),
)
# Stages that never import one another, whatever their order: the report reads a study without running one.
APART = (("nas.report", "nas.search"),)


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


def imported_modules(path: Path, files: dict[str, Path]) -> set[str]:
    """The modules of ``files`` that a file imports, anywhere in it: ``from P import M`` imports the module P.M where
    there is one (the package P itself is only passed through), else P."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in files)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules = {f"{node.module}.{alias.name}" for alias in node.names} & files.keys()
            names_only = any(f"{node.module}.{alias.name}" not in files for alias in node.names)
            found |= modules | ({node.module} & files.keys() if names_only else set())
    return found


def _prefixed(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == prefix or module.startswith(f"{prefix}.") for prefix in prefixes)


def stage_of(module: str) -> int:
    """The stage of a module of ``nas/`` or ``blocks/``: the index in ``STAGES`` of its longest prefix."""
    found = [(len(p), i) for i, (_, prefixes) in enumerate(STAGES) for p in prefixes if _prefixed(module, (p,))]
    assert found, f"{module} is on no stage: add it to STAGES"
    return max(found)[1]


def stage_violations(root: Path) -> list[str]:
    """Each import of a module of ``root/nas`` or ``root/blocks`` that reaches above its own stage, or into a stage
    kept ``APART`` from its own, as ``module imports X (stage ..., above stage ...)``."""
    files = {**module_files(root / "nas"), **module_files(root / "blocks")}
    found = []
    for module, path in sorted(files.items()):
        for imported in sorted(imported_modules(path, files)):
            mine, theirs = stage_of(module), stage_of(imported)
            if theirs > mine:
                found.append(f"{module} imports {imported} (stage {STAGES[theirs][0]}, above {STAGES[mine][0]})")
            for pair in APART:
                if _prefixed(module, pair[:1]) and _prefixed(imported, pair[1:]):
                    found.append(f"{module} imports {imported} ({pair[0]} and {pair[1]} are kept apart)")
    return found


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
    """Each broken Ray or Optuna rule, as ``module imports X (in Y)``."""
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


def test_every_import_stays_on_its_stage_or_below() -> None:
    assert stage_violations(PACKAGE.parent) == []


def _planted_tree(tmp_path: Path) -> Path:
    """A tree of every stage's packages (empty modules), as ``nas/`` and ``blocks/`` are laid out."""
    for package in ("blocks", "nas", "nas/sr", "nas/core", "nas/trained", "nas/study", "nas/search", "nas/report"):
        (tmp_path / package).mkdir(parents=True, exist_ok=True)
        (tmp_path / package / "__init__.py").write_text("")
    for module in ("blocks/registry.py", "nas/errors.py", "nas/files.py", "nas/cli.py", "nas/core/genotypes.py",
                   "nas/study/folder.py", "nas/search/run.py", "nas/report/build.py", "nas/sr/data.py"):  # fmt: skip
        (tmp_path / module).write_text("")
    return tmp_path


@pytest.mark.parametrize(
    ("module", "source", "message"),
    [
        (
            "nas/sr/data.py",
            "from nas.core import genotypes\n",
            "nas.sr.data imports nas.core.genotypes (stage core, above sr)",
        ),
        (
            "nas/files.py",
            "def f():\n    import nas.study.folder\n",
            "nas.files imports nas.study.folder (stage study, above common)",
        ),
        (
            "blocks/registry.py",
            "from nas.errors import InputError\n",
            "blocks.registry imports nas.errors (stage common, above blocks)",
        ),
        (
            "nas/study/folder.py",
            "from nas.search import run\n",
            "nas.study.folder imports nas.search.run (stage search, above study)",
        ),
        ("nas/core/genotypes.py", "from nas import cli\n", "nas.core.genotypes imports nas.cli (stage command line"),
        ("nas/report/build.py", "from nas.search.run import search\n", "nas.report.build imports nas.search.run (nas"),
    ],
)
def test_the_stage_check_finds_a_planted_upward_import(tmp_path: Path, module: str, source: str, message: str) -> None:
    root = _planted_tree(tmp_path)
    assert stage_violations(root) == []  # the empty tree breaks no rule
    (root / module).write_text(source)
    found = stage_violations(root)
    assert any(line.startswith(message) for line in found), found


def test_the_stage_check_allows_imports_down_and_within_a_stage(tmp_path: Path) -> None:
    root = _planted_tree(tmp_path)
    (root / "nas/report/build.py").write_text("from nas import study\nfrom nas.study.folder import StudyFolder\n")
    (root / "nas/search/run.py").write_text("import nas.files\nfrom nas.core import genotypes\nimport blocks\n")
    (root / "nas/cli.py").write_text("from nas.report import build\nfrom nas.search import run\n")
    assert stage_violations(root) == []


def test_only_the_search_package_imports_ray_and_the_sr_layer_neither_optuna_nor_ray() -> None:
    assert violations(PACKAGE) == []


@pytest.mark.parametrize(
    ("module", "source", "message"),
    [
        ("sr/metrics.py", "import optuna\n", "nas.sr.metrics imports optuna"),
        ("sr/data.py", "def load():\n    from ray import tune\n", "nas.sr.data imports ray"),
        ("sr/data.py", "from nas.report import study_figures\n", "nas.sr.data imports ray.tune (in nas.report."),
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
