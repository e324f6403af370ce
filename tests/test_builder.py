"""The datasets builder class, used directly (datasets >= 4 runs no loading scripts)."""

from __future__ import annotations

import pytest

from stepinst_data.dataset.builder import StepInstBuilder
from stepinst_data.dataset.configs import StepInstConfig
from stepinst_data.sample import SAMPLE_NATINST, SAMPLE_RATINGS, SAMPLE_STEPS
from stepinst_data.source.natinst import Sampling
from stepinst_data.stores.steps import StepsStoreError


def _build(tmp_path, **kwargs):
    builder = StepInstBuilder(natinst=SAMPLE_NATINST, steps=SAMPLE_STEPS, ratings=SAMPLE_RATINGS, cache_dir=str(tmp_path), **kwargs)
    builder.download_and_prepare()
    return builder.as_dataset()


def test_preset_through_the_builder_matches_the_export(tmp_path, sample_build):
    from datasets import load_dataset

    ds = _build(tmp_path, config_name="steps_reversed")
    exported = load_dataset(str(sample_build), "steps_reversed", cache_dir=str(tmp_path / "hf"))
    for split in ("train", "test"):
        assert ds[split].features == exported[split].features
        assert ds[split].to_list() == exported[split].to_list()


def test_custom_config_parameters(tmp_path):
    ds = _build(tmp_path, config_name="steps_ordered", num_pos_examples=1, sampling=Sampling(max_num_instances_per_task=5))
    assert max(ds["train"].to_pandas().groupby("task_name").size()) == 5
    assert ds["test"][0]["prompt"].count("Positive Example") == 1


def test_custom_config_object(tmp_path):
    config = StepInstConfig(name="mine", steps="shuffled", add_definition=False)
    ds = _build(tmp_path, config=config, sampling=Sampling(seed=7))
    assert ds["test"][0]["prompt"].startswith("Steps:\n1. ")


def test_invalid_parameters_are_refused():
    with pytest.raises(ValueError, match="`steps='sideways'`"):
        StepInstConfig(name="x", steps="sideways")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs the definition or the steps"):
        StepInstConfig(name="x", add_definition=False)


def test_step_config_without_steps_store_is_refused(tmp_path):
    builder = StepInstBuilder(config_name="steps_ordered", natinst=SAMPLE_NATINST, cache_dir=str(tmp_path))
    with pytest.raises(StepsStoreError, match="pass a steps store"):
        builder.download_and_prepare()


def test_a_template_change_is_never_served_from_the_cache(tmp_path):
    """The builder's cache key holds the rendering code: edit the template (as a user or an upgrade
    would) and the same builder call with the same cache renders new rows instead of the old ones."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    import stepinst_data

    source = Path(stepinst_data.__file__).parent
    package = tmp_path / "code" / "stepinst_data"
    shutil.copytree(source, package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(source.parent / "dataset_card", package.parent / "dataset_card")
    script = (
        "from stepinst_data.dataset.builder import StepInstBuilder\n"
        "from stepinst_data.sample import SAMPLE_NATINST, SAMPLE_STEPS\n"
        f"b = StepInstBuilder(config_name='steps_ordered', natinst=SAMPLE_NATINST, steps=SAMPLE_STEPS, cache_dir={str(tmp_path / 'hf')!r})\n"
        "b.download_and_prepare()\n"
        "print(b.as_dataset(split='test')[0]['prompt'].splitlines()[0])\n"
    )

    def first_prompt_line() -> str:
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(package.parent), "STEPINST_CACHE": str(tmp_path / "cache"),
               "HF_DATASETS_CACHE": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}
        done = subprocess.run([sys.executable, "-c", script], env=env, cwd=package.parent, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    assert first_prompt_line().startswith("Definition: ")
    template = package / "dataset" / "template.py"
    template.write_text(template.read_text().replace('"Definition: "', '"Task definition: "'))
    assert first_prompt_line().startswith("Task definition: ")
