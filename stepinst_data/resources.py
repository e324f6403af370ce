"""Files shipped beside the code: the dataset card template and the citation.

They live in ``dataset_card/`` of a checkout, or under ``share/stepinst/dataset_card`` when
installed from a wheel. Found on first use (never at import time), so a broken install fails
with a message at the command that needs them, not at ``import stepinst_data``.
"""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path


@cache
def card_dir() -> Path:
    """``dataset_card/`` of the source checkout, or the copy a wheel installs under ``share/``."""
    for folder in (Path(__file__).resolve().parent.parent / "dataset_card", Path(sys.prefix) / "share" / "stepinst" / "dataset_card"):
        if (folder / "template.md.j2").is_file():
            return folder
    raise FileNotFoundError("dataset_card/template.md.j2 not found; reinstall stepinst (`pip install -e .` from a checkout)")


def card_template() -> Path:
    """The Jinja template of the dataset card."""
    return card_dir() / "template.md.j2"


def citation_bib() -> str:
    """The BibTeX entries every card and ``DatasetInfo`` carries (the paper, SUP-NATINST, this release)."""
    return (card_dir() / "citation.bib").read_text(encoding="utf-8")
