"""Shared helpers of the release tests (card, push, notebooks, recipes): build the embedded sample,
copy a built folder, the environment of a `stepinst` subprocess. The fixtures are in conftest.py."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def build_sample(out: Path, cache: Path, *extra: str) -> Path:
    """Build the embedded sample into ``out`` with the real CLI (a fresh cache under ``cache``)."""
    from stepinst_data.cli import main

    assert main(["build", "--sample", "--out", str(out), "--cache-dir", str(cache), "--overwrite", *extra]) == 0
    return out


def fresh_copy(folder: Path, tmp_path: Path) -> Path:
    target = tmp_path / folder.name
    shutil.copytree(folder, target)
    return target


def subprocess_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a `stepinst` subprocess talking to a local Hub."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING_FACE"))}
    env.update(HF_HOME=str(tmp_path / "hf_home"), HF_HUB_DISABLE_XET="1", PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    env.update(extra)
    return env
