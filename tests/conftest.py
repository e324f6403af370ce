"""Shared fixtures: the embedded sample, the real SUP-NATINST sample in ../shared, fresh caches."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from stepinst_data.sample import SAMPLE_NATINST, SAMPLE_RATINGS, SAMPLE_STEPS

REPO = Path(__file__).resolve().parent.parent
SHARED_NATINST = REPO.parent / "shared" / "natinst"


@pytest.fixture(autouse=True)
def _isolated_caches(tmp_path_factory, monkeypatch):
    """Every test gets its own stepinst and HF datasets cache (datasets caches local folders by name)."""
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("STEPINST_CACHE", str(cache / "stepinst"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(cache / "hf_datasets"))
    import datasets.config

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache / "hf_datasets")


@pytest.fixture
def hf_cache(tmp_path) -> str:
    return str(tmp_path / "hf_cache")


@pytest.fixture
def sample_copy(tmp_path) -> Path:
    """A writable copy of the embedded sample's natinst folder (tests that break files use it)."""
    dest = tmp_path / "natinst"
    shutil.copytree(SAMPLE_NATINST, dest)
    return dest


@pytest.fixture(scope="session")
def sample_build(tmp_path_factory) -> Path:
    """The embedded sample built once into a folder (read-only for tests)."""
    from stepinst_data.card.release import build_release
    from stepinst_data.dataset.inputs import load_build_inputs

    out = tmp_path_factory.mktemp("build") / "stepinst"
    inputs = load_build_inputs(SAMPLE_NATINST, SAMPLE_STEPS, SAMPLE_RATINGS, cache_dir=tmp_path_factory.mktemp("c"))
    build_release(inputs, out)
    return out


@pytest.fixture
def shared_natinst() -> Path:
    if not (SHARED_NATINST / "tasks").is_dir():
        pytest.skip("../shared/natinst (the real SUP-NATINST sample) is not present on this machine")
    return SHARED_NATINST
