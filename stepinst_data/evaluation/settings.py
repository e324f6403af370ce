"""Every setting a result depends on, as run records hold them, so runs trained differently are never pooled.

A comparison pools the seeds of one (model, configuration) cell. That is only sound when the runs
differ by their seed alone: a seed trained with another learning rate, batch layout, sampler,
precision, source length, dataset build or library version is another experiment. The recipes
write :func:`training_settings` into the training record, ``recipes/evaluate.py`` adds
:func:`evaluation_settings`, and ``compare`` and the grid refuse to pool or to skip runs whose
settings differ (:func:`stepinst_data.evaluation.run_record.settings_diff`).

Recorded: the recipe YAML (a digest of its parsed content: comments do not count) and every parsed
value of the script's own arguments (so command-line overrides show as the values they set), the
trainer arguments that change the optimisation (:data:`TRAINER_KEYS`), the processes and the
instances per step, the dataset build (a digest of its manifest), and the versions of stepinst,
torch, transformers, trl, peft, accelerate and datasets.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import fields, is_dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from ..dataset.manifest import MANIFEST
from ..source.digest import sha256_file

logger = logging.getLogger(__name__)

# Trainer arguments that change what is learned (the rest: logging, saving, hub, dataloader workers... do not).
TRAINER_KEYS = (
    "learning_rate", "num_train_epochs", "max_steps", "lr_scheduler_type", "lr_scheduler_kwargs", "warmup_ratio",
    "warmup_steps", "weight_decay", "max_grad_norm", "optim", "optim_args", "adam_beta1", "adam_beta2", "adam_epsilon",
    "label_smoothing_factor", "per_device_train_batch_size", "gradient_accumulation_steps", "bf16", "fp16", "tf32",
    "train_sampling_strategy", "group_by_length", "average_tokens_across_devices", "max_length", "packing",
    "padding_free", "completion_only_loss", "assistant_only_loss", "loss_type", "neftune_noise_alpha",
    "use_liger_kernel", "torch_compile", "activation_checkpointing", "gradient_checkpointing", "full_determinism",
    "data_seed",
)
# Script arguments that only say where things are, or which run this is.
NOT_SETTINGS = {"seed", "output_dir", "run_name", "dataset_cache_dir", "resume_from_checkpoint", "config", "label"}
LIBRARIES = ("stepinst", "torch", "transformers", "trl", "peft", "accelerate", "datasets")


def library_versions() -> dict[str, str | None]:
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


_WARNED: set[str] = set()  # datasets already warned about (a grid asks once per run)


def dataset_digest(dataset: str) -> str | None:
    """The sha256 of a local build's manifest: two builds with other inputs or parameters differ here.

    ``None`` for a Hub id (its revision is not pinned here) or a folder without a manifest, with a warning.
    """
    path = Path(dataset) / MANIFEST
    if path.is_file():
        return sha256_file(path)
    if dataset not in _WARNED:
        _WARNED.add(dataset)
        logger.warning("%s: no %s to identify the build by; runs on it cannot prove they used the same data", dataset, MANIFEST)
    return None


def recipe_digest(config_path: str | os.PathLike | None) -> str | None:
    """A digest of a recipe YAML's parsed content, so a comment or key order never counts as a change."""
    if not config_path:
        return None
    import yaml

    content = yaml.safe_load(Path(config_path).read_text(encoding="utf-8")) or {}
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _plain(value: Any) -> Any:
    """A JSON value that compares equal when the setting is equal (enums by value, paths as text)."""
    value = getattr(value, "value", value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value)


def _arguments(args: Any, keys: tuple[str, ...] | None = None) -> dict[str, Any]:
    names = keys if keys is not None else [f.name for f in fields(args)] if is_dataclass(args) else []
    return {name: _plain(getattr(args, name)) for name in names if hasattr(args, name) and name not in NOT_SETTINGS}


def training_settings(training_args: Any, *script_args: Any, recipe: str, config_path: str | None,
                      dataset: str) -> dict[str, Any]:
    """What a training run's result depends on, besides its seed (flat: ``key -> value``)."""
    settings: dict[str, Any] = {"recipe": recipe, "recipe_yaml": recipe_digest(config_path), "dataset_build": dataset_digest(dataset)}
    for args in script_args:
        settings.update(_arguments(args))
    settings.update(_arguments(training_args, TRAINER_KEYS))
    if settings["dataset_build"] is not None:
        settings.pop("dataset_name", None)  # a local build is named by its content, not the path it is reached by
    processes = int(getattr(training_args, "world_size", 1) or 1)
    settings["processes"] = processes
    settings["instances_per_step"] = training_args.per_device_train_batch_size * training_args.gradient_accumulation_steps * processes
    settings["versions"] = library_versions()
    return settings


def evaluation_settings(args: Any, train_settings: dict[str, Any], step_order_seed: int | None) -> dict[str, Any]:
    """The evaluation's own settings next to the training's (prefixed ``train.``), for one flat comparison."""
    own = _arguments(args)
    for where in ("model_name_or_path", "output_dir", "batch_size", "max_batch_tokens", "device", "dataset_test_split"):
        own.pop(where, None)  # which folder, how many per batch (greedy results do not depend on it)
    own["split"] = args.dataset_test_split
    own["dataset_build"] = dataset_digest(args.dataset_name)
    if own["dataset_build"] is not None:
        own.pop("dataset_name", None)
    own["step_order"] = "per-seed" if step_order_seed is not None else "build"
    own["versions"] = library_versions()
    return {**{f"train.{k}": v for k, v in train_settings.items()}, **{f"eval.{k}": v for k, v in own.items()}}


def tokens_per_epoch(dataset, columns: tuple[str, ...]) -> int:
    """Non-padding tokens the model reads in one epoch of a tokenized dataset."""
    return sum(len(ids) for column in columns for ids in dataset[column])


def compute_record(train_output: Any, training_args: Any, epochs: float, tokens_per_epoch: int, resumed: bool) -> dict[str, Any]:
    """What training cost: device hours (wall time × processes), GPU hours on CUDA, tokens trained."""
    import torch

    seconds = float(train_output.metrics.get("train_runtime", 0.0))
    processes = int(getattr(training_args, "world_size", 1) or 1)
    on_gpu = torch.cuda.is_available() and not getattr(training_args, "use_cpu", False)
    device_hours = seconds * processes / 3600
    return {
        "train_seconds": round(seconds, 3), "num_processes": processes,
        "device": torch.cuda.get_device_name(0) if on_gpu else "cpu",
        "device_hours": round(device_hours, 6), "gpu_hours": round(device_hours, 6) if on_gpu else None,
        "train_tokens": int(round(tokens_per_epoch * epochs)),
        # a resumed run timed only its last session: its hours are a lower bound
        "resumed": resumed,
    }
