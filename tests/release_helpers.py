"""Shared helpers of the release tests (card, push, notebooks): build the embedded sample."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


def build_sample(out: Path, cache: Path, *extra: str) -> Path:
    """Build the embedded sample into ``out`` with the real CLI (a fresh cache under ``cache``)."""
    from stepinst_data.cli import main

    assert main(["build", "--sample", "--out", str(out), "--cache-dir", str(cache), "--overwrite", *extra]) == 0
    return out


@pytest.fixture(scope="session")
def built_sample(tmp_path_factory) -> Path:
    """One sample build per session; tests that change a folder copy it first (``fresh_copy``)."""
    root = tmp_path_factory.mktemp("sample")
    return build_sample(root / "stepinst", root / "cache")


def fresh_copy(folder: Path, tmp_path: Path) -> Path:
    target = tmp_path / folder.name
    shutil.copytree(folder, target)
    return target


@pytest.fixture
def hub_env(tmp_path, monkeypatch):
    """A clean Hugging Face environment: no login cache, no token, Xet off, a fresh HF cache."""
    import huggingface_hub.constants as constants

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "hf_home" / "token"))
    monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(tmp_path / "hf_home" / "stored_tokens"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "datasets_cache"))
    return tmp_path


def subprocess_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a `stepinst` subprocess talking to a local Hub."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING_FACE"))}
    env.update(HF_HOME=str(tmp_path / "hf_home"), HF_HUB_DISABLE_XET="1", PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    env.update(extra)
    return env
