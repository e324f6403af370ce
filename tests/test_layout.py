"""The package reads as the data flow: every import runs from a later stage to an earlier one.

A maintainer who adds ``from ..card import x`` inside ``dataset/`` (or any other upward or
sideways import between peer stages) gets a failing test that names the file, the line and the
rule, instead of a cycle found months later.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "stepinst_data"

# Rank of each stage in the data flow (DESIGN.md). A module may import its own stage or a lower rank;
# stages of equal rank are peers and may not import each other.
STAGE_RANK = {
    "__init__": 0,
    "resources": 0,
    "atomic": 0,
    "bulk": 0,
    "source": 1,
    "stores": 2,
    "sample": 3,
    "dataset": 3,
    "generation": 4,
    "ratings": 4,
    "card": 5,
    "hub": 6,
    "evaluation": 7,
    "commands": 8,
    "cli": 9,
}


def _stage(module: str) -> str:
    """``stepinst_data.dataset.export`` -> ``dataset``; ``stepinst_data`` -> ``__init__``."""
    parts = module.split(".")
    if len(parts) > 1 and ((PACKAGE / parts[1]).is_dir() or (PACKAGE / f"{parts[1]}.py").is_file()):
        return parts[1]
    return "__init__"  # the package itself, or a name defined in its __init__ (``__version__``)


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every stepinst_data module ``path`` imports (top level and inside functions), with its line."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [target] if node.module else [f"{target}.{a.name}" for a in node.names]
            found += [(node.lineno, n) for n in names if n.startswith("stepinst_data")]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("stepinst_data")]
    return found


def test_every_stage_is_known():
    stages = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir() if p.suffix == ".py" or (p / "__init__.py").is_file()}
    assert stages <= set(STAGE_RANK), f"add the new stage(s) {sorted(stages - set(STAGE_RANK))} to STAGE_RANK (and DESIGN's data flow)"


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_run_from_later_stages_to_earlier_ones(path):
    here = _stage(_module_name(path))
    wrong = []
    for line, target in _imports(path):
        there = _stage(target)
        if there != here and STAGE_RANK[there] >= STAGE_RANK[here] and there != "__init__":
            wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {target} ({there}, rank {STAGE_RANK[there]}) from {here} (rank {STAGE_RANK[here]})")
    assert not wrong, "imports must run from later stages to earlier ones:\n" + "\n".join(wrong)
