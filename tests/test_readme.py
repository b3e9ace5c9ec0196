"""The READMEs against the command line they document.

Every ``nas ...`` command in a fenced bash block of the five READMEs must name a real subcommand and only options
that the subcommand's ``--help`` lists, use relative paths, and name space files and genotype ids that load; the
cheap ones (``nas --version``, ``nas blocks ...``, any ``--help``) are run for real from the repository root.
Inline ``nas ...`` mentions are held to the same subcommands and options, links between the READMEs must resolve,
and the guide stays a guide: at most 195 lines, opening with the two setup commands that ``.ci/run`` runs.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import re
import shlex
from pathlib import Path

import pytest
from conftest import names_reference, require_reference

from nas import cli

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "README.md"
READMES = [GUIDE, *(ROOT / folder / "README.md" for folder in ("blocks", "search_spaces", "nas", "results"))]
GUIDE_MAX_LINES = 195  # the guide, with what the published experiments found
# The guide's first fenced block: (command, comment) of its two lines, exactly.
SETUP_LINES = [
    (
        "bash .ci/setup && nas search --space search_spaces/sr_tiny.yaml && nas report results/sr_tiny",
        "set up, run the main job",
    ),
    (
        "bash .ci/setup --tests && ruff check . && ruff format --check . && mypy && python3 -m pytest -q",
        "set up, run the tests",
    ),
]
CONTROL_OPERATORS = {"&&", "||", ";", "|", "&"}
FENCE = re.compile(r"^```(\w*)\s*$")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
INLINE_NAS = re.compile(r"`(nas [^`]+)`")


def fenced_blocks(text: str) -> list[tuple[str, list[str]]]:
    """(language, lines) of every fenced block of a Markdown text, in order."""
    found, language, lines = [], None, []
    for line in text.splitlines():
        fence = FENCE.match(line.strip())
        if fence and language is None:
            language, lines = fence[1], []
        elif line.strip() == "```" and language is not None:
            found.append((language, lines))
            language = None
        elif language is not None:
            lines.append(line)
    return found


def without_fenced_blocks(text: str) -> str:
    return re.sub(r"^```.*?^```\s*$", "", text, flags=re.M | re.S)


def shell_words(line: str) -> list[str]:
    """A shell line's words and control operators, as bash splits them (quotes removed, comments dropped)."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    return list(lexer)


def nas_commands(lines: list[str]) -> list[list[str]]:
    """The words of every ``nas`` command of a shell block (continued lines joined, ``&&`` chains split)."""
    commands = []
    for line in "\n".join(lines).replace("\\\n", " ").splitlines():
        command: list[str] = []
        for word in [*shell_words(line), ";"]:
            if word in CONTROL_OPERATORS:
                if command[:1] == ["nas"]:
                    commands.append(command)
                command = []
            else:
                command.append(word)
    return commands


def documented_commands() -> list[tuple[str, list[str]]]:
    """(README, words) of every ``nas`` command in a fenced bash block of the READMEs."""
    return [
        (str(readme.relative_to(ROOT)), words)
        for readme in READMES
        for language, lines in fenced_blocks(readme.read_text())
        if language == "bash"
        for words in nas_commands(lines)
    ]


COMMANDS = documented_commands()


@functools.cache
def help_text(*command: str) -> str:
    """What ``nas COMMAND --help`` prints (the parser is the CLI's own, run in this process)."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), pytest.raises(SystemExit):
        cli.build_parser().parse_args([*command, "--help"])
    return printed.getvalue()


def subcommands() -> set[str]:
    """The subcommands ``nas --help`` lists."""
    listing = help_text().split("positional arguments:")[1].split("options:")[0]
    return set(re.findall(r"^ {4}([a-z][a-z-]*)(?: {2,}|$)", listing, flags=re.M))


def listed_options(*command: str) -> set[str]:
    """The options ``nas COMMAND --help`` lists: its usage lines and the names that open its option lines."""
    text = help_text(*command)
    named = [line.strip().split("  ")[0] for line in text.splitlines() if line.startswith("  -")]
    return set(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", "\n".join([text.split("\n\n")[0], *named])))


def subcommand_and_options(words: list[str]) -> tuple[str | None, list[str]]:
    """The subcommand a ``nas`` command names (None for ``nas --version`` and the like), and the options it uses."""
    rest = words[1:]
    subcommand = rest[0] if rest and not rest[0].startswith("-") else None
    options = [word.split("=")[0] for word in rest if re.match(r"^--?[A-Za-z]", word)]
    return subcommand, options


def option_value(words: list[str], option: str) -> str | None:
    return words[words.index(option) + 1] if option in words else None


def is_cheap(words: list[str]) -> bool:
    """Commands that finish in seconds: the version, the block listing, any ``--help``."""
    return words[1:] == ["--version"] or words[1:2] == ["blocks"] or "--help" in words or "-h" in words


def command_id(item: tuple[str, list[str]]) -> str:
    return f"{item[0]}: {shlex.join(item[1])[:70]}"


def test_the_guide_is_at_most_195_lines() -> None:
    lines = GUIDE.read_text().splitlines()
    assert len(lines) <= GUIDE_MAX_LINES, f"README.md has {len(lines)} lines; move reference material out"


def test_the_guide_opens_with_the_two_setup_commands_that_ci_runs() -> None:
    language, lines = fenced_blocks(GUIDE.read_text())[0]
    assert language == "bash"
    assert [tuple(part.strip() for part in line.split("#", 1)) for line in lines] == SETUP_LINES
    test_command = SETUP_LINES[1][0]
    assert test_command in (ROOT / ".ci" / "run").read_text()


def test_the_cheap_commands_are_documented() -> None:
    shown = {shlex.join(words) for _, words in COMMANDS}
    assert {"nas --version", "nas blocks", "nas blocks --json"} <= shown
    assert any("--help" in words for _, words in COMMANDS)


@pytest.mark.parametrize("readme_and_words", COMMANDS, ids=command_id)
def test_command_names_a_subcommand_and_only_its_options(readme_and_words) -> None:
    _, words = readme_and_words
    subcommand, options = subcommand_and_options(words)
    if subcommand is not None:
        assert subcommand in subcommands(), f"{subcommand!r} is not a nas command"
    allowed = listed_options(*([subcommand] if subcommand else []))
    assert set(options) <= allowed, f"options {sorted(set(options) - allowed)} are not in --help: {sorted(allowed)}"


@pytest.mark.parametrize("readme_and_words", COMMANDS, ids=command_id)
def test_command_runs_from_the_repository_root(readme_and_words) -> None:
    """Relative paths only; the space files it names exist, and its genotype ids load in them."""
    _, words = readme_and_words
    assert not [word for word in words if word.startswith(("/", "~"))], "use paths relative to the repository root"
    space = option_value(words, "--space")
    if space is not None:
        assert (ROOT / space).is_file(), space
        if names_reference(ROOT / space):
            require_reference()
    genotype = option_value(words, "--genotype")
    if space is not None and genotype is not None:
        from nas.core import genotypes, spaces

        search_space = spaces.load(ROOT / space)
        arch = genotypes.Genotype.resolve(genotype, search_space)
        genotypes.check_runs_in(arch, search_space, training=words[1] == "train")
    subcommand, _ = subcommand_and_options(words)
    if subcommand in ("confirm", "report", "dashboard"):
        study = words[2]
        assert re.fullmatch(r"results/(published/)?\w+", study), study
        if study.startswith("results/published/"):  # a committed study: there in every clone
            assert (ROOT / study / "space.json").is_file(), f"{study} is not a committed study"
        else:
            assert (ROOT / "search_spaces" / f"{Path(study).name}.yaml").is_file(), f"no space makes {study}"


CHEAP = [item for item in COMMANDS if is_cheap(item[1])]


@pytest.mark.parametrize("readme_and_words", list({shlex.join(w): (r, w) for r, w in CHEAP}.values()), ids=command_id)
def test_cheap_command_runs_as_written(readme_and_words, nas_cli, monkeypatch) -> None:
    _, words = readme_and_words
    monkeypatch.chdir(ROOT)
    result = nas_cli(*words[1:], timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    if words[1:] == ["--version"]:
        assert re.fullmatch(r"nas \d+\.\d+\.\d+", result.stdout.strip())
    if "--json" in words:
        assert json.loads(result.stdout)["blocks"]


@pytest.mark.parametrize("readme", READMES, ids=lambda path: str(path.relative_to(ROOT)))
def test_inline_commands_name_real_subcommands_and_options(readme: Path) -> None:
    known = subcommands()
    for mention in INLINE_NAS.findall(without_fenced_blocks(readme.read_text())):
        subcommand, options = subcommand_and_options(mention.split())
        assert subcommand in known, f"{readme.name}: `{mention}` names no nas command"
        unknown = set(options) - listed_options(subcommand)
        assert not unknown, f"{readme.name}: `{mention}` uses {sorted(unknown)}, not in nas {subcommand} --help"


def heading_anchors(text: str) -> set[str]:
    """The anchors GitHub gives a Markdown text's headings."""
    anchors = set()
    for heading in re.findall(r"^#+ (.+)$", without_fenced_blocks(text), flags=re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


@pytest.mark.parametrize("readme", READMES, ids=lambda path: str(path.relative_to(ROOT)))
def test_links_and_images_resolve(readme: Path) -> None:
    for target in LINK.findall(without_fenced_blocks(readme.read_text())):
        if re.match(r"^[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        linked = (readme.parent / path).resolve() if path else readme
        assert linked.exists(), f"{readme.relative_to(ROOT)}: link {target} points at nothing"
        if anchor:
            assert anchor in heading_anchors(linked.read_text()), f"{readme.relative_to(ROOT)}: no heading #{anchor}"
