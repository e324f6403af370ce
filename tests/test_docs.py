"""The command lines the READMEs show are ones the CLI accepts, in the current vocabulary.

A user copies them: a renamed flag, a dropped option or a deprecated spelling in the docs is a bug
the user meets first. Every ``stepinst ...`` and ``python recipes/grid.py ...`` line of a ```bash
block is parsed (not run) with the real parsers; optional parts in ``[...]`` are parsed too.
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pytest

from stepinst_data.cli import make_parser

ROOT = Path(__file__).resolve().parents[1]
DOCS = ("README.md", "recipes/README.md")


def bash_commands(doc: str, prefix: str) -> list[str]:
    """The command lines of ``doc``'s ```bash blocks that start with ``prefix`` (continuations joined,
    comments and the brackets of optional parts dropped, a count ``N`` made a number)."""
    text = (ROOT / doc).read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+#.*$", "", line.strip())
            if line.startswith(prefix) and "..." not in line:
                line = re.sub(r"[\[\]]", "", line)
                commands.append(re.sub(r"(?<= )N(?= |$)", "2", line))  # a count written as N
    return commands


STEPINST = [(doc, line) for doc in DOCS for line in bash_commands(doc, "stepinst ")]
GRID = [(doc, line) for doc in DOCS for line in bash_commands(doc, "python recipes/grid.py ")]


def test_the_docs_show_commands():
    assert len(STEPINST) >= 20 and len(GRID) >= 2  # the extraction finds the documented commands


@pytest.mark.parametrize(("doc", "line"), STEPINST, ids=[f"{d}:{' '.join(l.split()[:3])}" for d, l in STEPINST])
def test_documented_stepinst_command_parses_without_deprecation(doc, line, capsys):
    args = make_parser().parse_args(shlex.split(line)[1:])
    assert callable(args.func), line
    assert "deprecated" not in capsys.readouterr().err, f"{doc} uses an old spelling: {line}"


@pytest.mark.parametrize(("doc", "line"), GRID, ids=[f"{d}:grid{i}" for i, (d, _) in enumerate(GRID)])
def test_documented_grid_command_parses(doc, line, monkeypatch):
    sys.path.insert(0, str(ROOT / "recipes"))
    monkeypatch.setattr(sys, "path", sys.path)
    import grid

    argv = shlex.split(line)[2:]
    own = argv[: argv.index("--")] if "--" in argv else argv
    options = grid.make_parser().parse_args(own)
    assert options.recipes and options.configs and options.dataset and options.out, line


def _subcommands(parser) -> list[tuple[str, object]]:
    """Every (prog, parser) below ``parser``, nested groups (``steps batch``) included."""
    found = []
    for action in parser._actions:
        for sub in (getattr(action, "choices", None) or {}).values() if action.__class__.__name__ == "_SubParsersAction" else ():
            found += [(sub.prog, sub), *_subcommands(sub)]
    return found


OLD_SPELLINGS = ("--repo-id", "--validation-tasks", "--into", "STORE")


@pytest.mark.parametrize(("prog", "parser"), _subcommands(make_parser()), ids=lambda p: getattr(p, "prog", p))
def test_help_shows_no_old_spelling(prog, parser):
    text = parser.format_help()
    assert not [old for old in OLD_SPELLINGS if re.search(rf"(?<![\w-]){re.escape(old)}\b", text)], text
    assert "(default: None)" not in text  # an option without a default says in words what happens
