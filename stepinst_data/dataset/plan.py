"""The plan of a build: every parameter, named once, checked once, before anything is read.

``stepinst build`` makes a plan from its flags; ``build --like`` and ``verify`` read it back
from a manifest, which embeds it (:mod:`.manifest`). Then one function carries it from the
inputs to a release folder (:func:`stepinst_data.card.release.release`). The sampling has one
home, :class:`~stepinst_data.source.natinst.Sampling`, held here once for every configuration.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from typing import Any

import msgspec

from ..source.natinst import Sampling
from ..stores.steps import StepsLimits
from .configs import PRESETS, StepInstConfig

BUILDER_FIELDS = frozenset({"version", "data_dir", "data_files"})  # datasets.BuilderConfig fields stepinst never sets


class PlanError(ValueError):
    """A build parameter that cannot work; the message names it, the bad value and the fix."""


def config_parameters(config: StepInstConfig) -> dict[str, Any]:
    """Every parameter of a configuration (name and description included), as JSON values."""
    return {f.name: getattr(config, f.name) for f in fields(config) if f.name not in BUILDER_FIELDS}


def check_repo_id(repo_id: str) -> str:
    """``ORG/NAME`` or ``NAME`` as the Hub accepts it; anything else is refused before any request."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)  # also refuses more than one "/"
    except HFValidationError as e:
        raise PlanError(f"{repo_id!r} is not a valid repo id ({e}); use the form ORG/NAME, e.g. my-org/stepinst") from None
    return repo_id


def preset_configs(names: str) -> list[StepInstConfig]:
    """The presets of a comma-separated ``--configs`` value, in its order."""
    chosen = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in chosen if n not in PRESETS]
    if unknown:
        raise PlanError(f"--configs: unknown config(s) {unknown}; choose from {list(PRESETS)}")
    return [PRESETS[n] for n in chosen]


def _limit(name: str, value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        flag = "--" + name.replace("_", "-")
        raise PlanError(
            f"{flag} {value!r} (`{name}`): a limit below 1 would leave every task of that split without instances; "
            "give a whole number >= 1"
        )


class BuildPlan(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Every parameter of a build; the manifest records it and ``--like``/``verify`` replay it.

    Args:
        configs: the parameters of each configuration, in build order (None: every preset the
            inputs serve, chosen once they are read).
        sampling: instances per train and per test task, and the seed of every random choice.
        validation_tasks: train tasks (a seeded choice) moved to a ``validation`` split.
        allow_missing_tasks: skip listed tasks without a task file instead of refusing.
        skip_empty_tasks: skip listed tasks with no instances instead of refusing.
        repo: the Hub repo the card names (None: a placeholder).
        steps_limits: the most steps per task and characters per step accepted (recorded, so that
            ``--like`` and ``verify`` rebuild a build made with raised limits).
    """

    configs: tuple[dict[str, Any], ...] | None = None
    sampling: Sampling = msgspec.field(default_factory=Sampling)
    validation_tasks: int = 0
    allow_missing_tasks: bool = False
    skip_empty_tasks: bool = False
    repo: str | None = None
    steps_limits: StepsLimits = msgspec.field(default_factory=StepsLimits)

    @classmethod
    def of(cls, configs: Sequence[StepInstConfig] | None = None, **parameters: Any) -> BuildPlan:
        """A plan of these configuration objects (None: every preset the inputs serve)."""
        params = None if configs is None else tuple(config_parameters(c) for c in configs)
        return cls(configs=params, **parameters)

    def with_configs(self, configs: Sequence[StepInstConfig]) -> BuildPlan:
        return msgspec.structs.replace(self, configs=tuple(config_parameters(c) for c in configs))

    def stepinst_configs(self) -> list[StepInstConfig] | None:
        """The configurations as objects (None: not chosen yet)."""
        if self.configs is None:
            return None
        known = {f.name for f in fields(StepInstConfig)} - BUILDER_FIELDS
        configs = []
        for entry in self.configs:
            unknown = sorted(set(entry) - known)
            if unknown:
                raise PlanError(f"configuration {entry.get('name')!r}: unknown parameter(s) {unknown}; known: {sorted(known)}")
            configs.append(StepInstConfig(**entry))
        return configs

    def check(self) -> BuildPlan:
        """Refuse any parameter that cannot work, before a file is read (returns the plan)."""
        _limit("max_num_instances_per_task", self.sampling.max_num_instances_per_task)
        _limit("max_num_instances_per_eval_task", self.sampling.max_num_instances_per_eval_task)
        if isinstance(self.sampling.seed, bool) or not isinstance(self.sampling.seed, int):
            raise PlanError(f"--seed {self.sampling.seed!r} (`seed`): give a whole number")
        if isinstance(self.validation_tasks, bool) or not isinstance(self.validation_tasks, int) or self.validation_tasks < 0:
            raise PlanError(f"--num-validation-tasks {self.validation_tasks!r} (`validation_tasks`): give a whole number >= 0")
        configs = self.stepinst_configs() or []
        names = [c.name for c in configs]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise PlanError(f"configuration name(s) {repeated} appear more than once: each names one folder data/<name>/; "
                            "list each configuration once (custom ones need their own name)")
        if self.configs is not None and not configs:
            raise PlanError("--configs names no configuration; name at least one, or leave it out for every one the inputs serve")
        if self.repo is not None:
            check_repo_id(self.repo)
        return self
