"""Shared fixtures: the embedded sample (built once per session), the real SUP-NATINST sample in
../shared, one fresh cache per test, a clean Hugging Face environment."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings

from stepinst_data.sample import SAMPLE_NATINST

REPO = Path(__file__).resolve().parent.parent
SHARED_NATINST = REPO.parent / "shared" / "natinst"

# Property tests (tests/test_fuzz_*.py). "ci", the default: each property runs the examples its
# @settings(max_examples=...) names, the same ones every run (derandomized, no example database),
# so CI is reproducible and bounded; a failure is reported as found (shrinking one can take minutes).
# "long" (HYPOTHESIS_PROFILE=long): 20x the examples, random, failures shrunk to the
# smallest and replayed first by the next run (the local example database).
_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("ci", derandomize=True, database=None, print_blob=True,
                          phases=[Phase.explicit, Phase.generate], **_COMMON)
settings.register_profile("long", **_COMMON)  # the examples: fuzz_helpers.examples
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _isolated_caches(tmp_path_factory, monkeypatch) -> Path:
    """Every test gets its own stepinst and HF datasets cache (datasets caches local folders by name).

    The one place a test's caches are isolated: ``hf_cache`` and ``hub_env`` reuse it.
    """
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("STEPINST_CACHE", str(cache / "stepinst"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(cache / "hf_datasets"))
    import datasets.config

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache / "hf_datasets")
    return cache


@pytest.fixture
def hf_cache(_isolated_caches) -> str:
    """This test's datasets cache, for the APIs that take a ``cache_dir``."""
    return str(_isolated_caches / "hf_datasets")


@pytest.fixture
def sample_copy(tmp_path) -> Path:
    """A writable copy of the embedded sample's natinst folder (tests that break files use it)."""
    dest = tmp_path / "natinst"
    shutil.copytree(SAMPLE_NATINST, dest)
    return dest


@pytest.fixture(scope="session")
def sample_build(tmp_path_factory) -> Path:
    """The embedded sample built once per session with the real CLI (read-only: tests that change a
    folder copy it first with ``release_helpers.fresh_copy``)."""
    from release_helpers import build_sample

    root = tmp_path_factory.mktemp("sample")
    return build_sample(root / "stepinst", root / "cache")


@pytest.fixture
def hub_env(tmp_path, monkeypatch) -> Path:
    """A clean Hugging Face environment: no login cache, no token, Xet off (the datasets cache is
    already this test's own)."""
    import huggingface_hub.constants as constants

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "hf_home" / "token"))
    monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(tmp_path / "hf_home" / "stored_tokens"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf_home" / "hub"))  # read at import, not from HF_HOME
    return tmp_path


@pytest.fixture
def shared_natinst() -> Path:
    if not (SHARED_NATINST / "tasks").is_dir():
        pytest.skip("../shared/natinst (the real SUP-NATINST sample) is not present on this machine")
    return SHARED_NATINST
