"""The one table of configurations: names, what the model input holds, and their parameters.

The preset names are part of the public contract (DESIGN.md). Any other combination of the same
parameters is a custom configuration: ``StepInstConfig(name="mine", num_pos_examples=1, ...)``.
The sampling (instances per task, the seed) and the validation split belong to the whole build,
not to a configuration: :class:`stepinst_data.dataset.plan.BuildPlan` holds them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Literal

import datasets

from .orderings import STEP_ORDERS

StepsMode = Literal["none", "ordered", "shuffled", "reversed"]

# The paper's "high-quality steps": an aggregated overall human score of at least 4 on the 1-5 scale.
DEFAULT_MIN_STEPS_QUALITY = 4.0


@dataclass
class StepInstConfig(datasets.BuilderConfig):
    """One way of rendering SUP-NATINST (+ steps) into prompt/completion rows.

    Args:
        add_definition: put the task definition in the prompt.
        steps: where the steps go: ``"none"`` (not in the prompt), or the order they are shown in.
        num_pos_examples: positive examples after the definition (Tk-Instruct "pos": 2).
        num_neg_examples: negative examples after the positive ones.
        add_explanation: add each example's explanation.
        min_steps_quality: keep only train/validation tasks whose aggregated overall human rating
            reaches this value (unrated tasks are dropped); test tasks are always all kept so that
            scores stay comparable with the official benchmark.
        ratings_only: the ``ratings`` configuration: one row per (task, annotator), no instances.
    """

    add_definition: bool = True
    steps: StepsMode = "none"
    num_pos_examples: int = 0
    num_neg_examples: int = 0
    add_explanation: bool = False
    min_steps_quality: float | None = None
    ratings_only: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.steps != "none" and self.steps not in STEP_ORDERS:
            raise ValueError(f"`steps={self.steps!r}` is not one of ('none', {', '.join(map(repr, STEP_ORDERS))})")
        if not self.add_definition and self.steps == "none" and not self.ratings_only:
            raise ValueError("a configuration needs the definition or the steps: set `add_definition=True` or `steps`")
        for name in ("num_pos_examples", "num_neg_examples"):
            if getattr(self, name) < 0:
                raise ValueError(f"`{name}` must be >= 0, got {getattr(self, name)}")

    @property
    def uses_steps(self) -> bool:
        return self.steps != "none" or self.min_steps_quality is not None

    def with_params(self, **overrides) -> StepInstConfig:
        """A copy with some parameters changed (e.g. ``name`` or ``num_pos_examples``)."""
        known = {f.name for f in fields(self)}
        unknown = set(overrides) - known
        if unknown:
            raise ValueError(f"unknown configuration parameter(s) {sorted(unknown)}; known: {sorted(known)}")
        return replace(self, **overrides)


PRESETS: dict[str, StepInstConfig] = {
    c.name: c
    for c in [
        StepInstConfig(name="definition", description="The original task definition (the paper's baseline)."),
        StepInstConfig(
            name="definition_pos",
            num_pos_examples=2,
            description="Definition + 2 positive examples (Tk-Instruct def-pos).",
        ),
        StepInstConfig(name="steps_ordered", steps="ordered", description="Definition + the steps in the generated order."),
        StepInstConfig(
            name="steps_ordered_pos",
            steps="ordered",
            num_pos_examples=2,
            description="Definition + the steps + 2 positive examples.",
        ),
        StepInstConfig(
            name="steps_shuffled",
            steps="shuffled",
            description="Definition + the steps in a seeded random order (never the original order).",
        ),
        StepInstConfig(name="steps_reversed", steps="reversed", description="Definition + the steps in reverse order."),
        StepInstConfig(
            name="steps_only", add_definition=False, steps="ordered", description="The steps without the definition."
        ),
        StepInstConfig(
            name="steps_ordered_hq",
            steps="ordered",
            min_steps_quality=DEFAULT_MIN_STEPS_QUALITY,
            description=(
                "As steps_ordered, training only on tasks whose steps have an aggregated overall human "
                f"rating >= {DEFAULT_MIN_STEPS_QUALITY:g} (the test split keeps every task)."
            ),
        ),
        StepInstConfig(
            name="definition_hq",
            min_steps_quality=DEFAULT_MIN_STEPS_QUALITY,
            description=(
                "The control for steps_ordered_hq: the definition alone, trained on the same rated task subset "
                "(so a gain of steps_ordered_hq over it is the steps', not the smaller training set's)."
            ),
        ),
        StepInstConfig(
            name="ratings",
            ratings_only=True,
            description="No instances: one row per (task, annotator) human quality rating of the steps.",
        ),
    ]
}

INSTANCE_CONFIGS: list[str] = [name for name, c in PRESETS.items() if not c.ratings_only]
