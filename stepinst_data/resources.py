"""Files shipped beside the code: the dataset card template and the citation.

They live in ``dataset_card/`` of a checkout, or under ``share/stepinst/dataset_card`` of the
data folder a wheel was installed into: ``sys.prefix`` (a virtual environment, a system
install), the user base (``pip install --user``), or another scheme's data folder. Found on
first use (never at import time), so a broken install fails with a message at the command that
needs them, not at ``import stepinst_data``.
"""

from __future__ import annotations

import site
import sys
import sysconfig
from functools import cache
from pathlib import Path

SHARED = Path("share") / "stepinst" / "dataset_card"


def candidate_dirs() -> list[Path]:
    """Where the card's files may be, in order: the checkout, then every data folder pip installs into."""
    data_dirs = [Path(sys.prefix), Path(site.getuserbase())]
    data_dirs += [Path(sysconfig.get_path("data", scheme)) for scheme in sysconfig.get_scheme_names()
                  if scheme.endswith("_user") or scheme == sysconfig.get_default_scheme()]
    return [Path(__file__).resolve().parent.parent / "dataset_card", *dict.fromkeys(d / SHARED for d in data_dirs)]


@cache
def card_dir() -> Path:
    """``dataset_card/`` of the source checkout, or the copy a wheel installs under ``share/``."""
    candidates = candidate_dirs()
    for folder in candidates:
        if (folder / "template.md.j2").is_file():
            return folder
    raise FileNotFoundError(
        f"dataset_card/template.md.j2 not found in {', '.join(map(str, candidates))}; "
        "reinstall stepinst (`pip install -e .` from a checkout)"
    )


def card_template() -> Path:
    """The Jinja template of the dataset card."""
    return card_dir() / "template.md.j2"


def citation_bib() -> str:
    """The BibTeX entries every card and ``DatasetInfo`` carries (the paper, SUP-NATINST, this release)."""
    return (card_dir() / "citation.bib").read_text(encoding="utf-8")
