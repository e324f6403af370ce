"""Fit each prompt to the model's token budget as Tk-Instruct does: drop examples, then steps, never the instance.

Tk-Instruct's collator adds each example only while definition + examples + instance fit in 1,024
tokens. Cutting the rendered prompt from one side instead loses the ``Input: … Output:`` tail (from
the right) or the definition (from the left), and longer configurations (steps, examples) lose more:
a bias against exactly what the paper measures. So the recipes re-render every prompt from the row's
own fields with the one template (:mod:`stepinst_data.dataset.template`) and the model's tokenizer:

1. negative, then positive examples are dropped from the last one back;
2. then steps are dropped from the last one back (a step is never cut in the middle);
3. then, only if definition + instance alone are still too long, the definition is cut (its start kept);
4. the instance itself is cut only when it alone exceeds the budget (its ``Output:`` tail is kept).

The report counts the prompts at each stage, so the table can show per configuration how many
prompts lost examples or steps. A prompt that fits is the dataset's ``prompt``, unchanged (tested).

``steps_shuffled`` draws its permutation from the build seed. With ``step_order_seed`` the steps of a
shuffled row are re-drawn from that seed (the recipes pass the training seed), so every training seed
samples its own permutations, with the same never-the-original-order rule as the build
(:func:`stepinst_data.dataset.orderings.shuffled_order`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ..dataset.orderings import shuffled_order
from ..dataset.template import instance_block, render_prefix
from ..source.natinst import Example

logger = logging.getLogger(__name__)


class PromptFitError(ValueError):
    """A row whose prompt is not what the template renders from its fields; the message names the row."""


@dataclass
class FitReport:
    """How many prompts were longer than the budget, and what each lost to fit it.

    Args:
        total: prompts fitted.
        over_budget: prompts whose full rendering exceeded the budget.
        examples_dropped / steps_cut / definition_cut / instance_cut: prompts that lost at least one
            example / at least one step / part of the definition / part of the instance.
        truncated_targets: completions longer than their budget (cut from the right).
        budget: the prompt budget in tokens (the smallest one for budgets that vary per row).
        side: the side an instance that alone exceeds the budget is cut from (``Output:`` kept).
        step_order_seed: the seed shuffled steps were re-drawn with, ``None`` for the build's order.
    """

    total: int = 0
    over_budget: int = 0
    examples_dropped: int = 0
    steps_cut: int = 0
    definition_cut: int = 0
    instance_cut: int = 0
    truncated_targets: int = 0
    budget: int | None = None
    side: str = "right"
    step_order_seed: int | None = None

    def log(self, what: str = "train") -> None:
        if self.over_budget or self.truncated_targets:
            logger.warning("%s: %d of %d prompts exceeded %s tokens: %d lost examples, %d lost steps, %d lost part of the "
                           "definition, %d lost part of the instance; %d targets were truncated", what, self.over_budget,
                           self.total, self.budget, self.examples_dropped, self.steps_cut, self.definition_cut,
                           self.instance_cut, self.truncated_targets)
        else:
            logger.info("%s: every one of %d prompts fits %s tokens", what, self.total, self.budget)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Row:
    """One prompt being fitted: the row's pieces and how many of each are still in."""

    definition: str | None
    steps: list[str]
    positives: list[Example]
    negatives: list[Example]
    add_explanation: bool
    instance: str
    budget: int
    keep: list[int] = field(default_factory=list)  # [negatives, positives, steps] still shown

    def render(self) -> str:
        negatives, positives, steps = self.keep
        prefix = render_prefix(self.definition, self.steps[:steps], self.positives[:positives], self.negatives[:negatives],
                               self.add_explanation)
        return prefix + instance_block(self.instance)

    def drop_one(self) -> bool:
        """Take out the next piece (a negative, a positive example, then a step); False when none is left."""
        for index in range(3):
            if self.keep[index]:
                self.keep[index] -= 1
                return True
        return False


def _examples(values: Sequence[dict]) -> list[Example]:
    return [Example(e["input"], e["output"], e.get("explanation") or "") for e in values]


def resampled_steps(steps: list[str], order: list[int], seed: int, task_name: str) -> list[str]:
    """The steps of a shuffled row in the order ``seed`` draws (``order`` maps shown position -> generated index)."""
    generated = [""] * len(order)
    for shown, index in enumerate(order):
        generated[index] = steps[shown]
    return [generated[i] for i in shuffled_order(generated, seed, task_name)]


def _row(row: dict, budget: int, step_order_seed: int | None) -> _Row:
    """The row's pieces, with the layout (definition shown? explanations?) that reproduces its ``prompt``."""
    steps = list(row["steps"])
    positives, negatives = _examples(row["positive_examples"]), _examples(row["negative_examples"])
    for definition in (row["definition"], None):
        for add_explanation in (False, True):
            candidate = _Row(definition, steps, positives, negatives, add_explanation, row["input"], budget,
                             [len(negatives), len(positives), len(steps)])
            if candidate.render() == row["prompt"]:
                if step_order_seed is not None:
                    candidate.steps = resampled_steps(steps, list(row["step_order"]), step_order_seed, row["task_name"])
                return candidate
    raise PromptFitError(f"row {row['id']!r} (task {row['task_name']}): its `prompt` is not what the template renders "
                         "from its fields; rebuild the dataset with this version of stepinst (`stepinst build`)")


def _lengths(tokenizer, texts: list[str]) -> list[int]:
    return [len(ids) for ids in tokenizer(texts)["input_ids"]] if texts else []


def fit_prompts(rows, tokenizer, budgets: int | Sequence[int], side: str = "right",
                step_order_seed: int | None = None) -> tuple[list[str], FitReport]:
    """Each row's prompt, fitted to its budget (tokens, with the tokenizer's special tokens); and what was cut.

    Args:
        rows: dataset rows (a ``datasets.Dataset`` or a list of dicts) of an instance configuration.
        tokenizer: the model's tokenizer; lengths are counted exactly as the recipes encode prompts.
        budgets: one budget for every row, or one per row (causal: ``max_length`` minus the completion).
        side: where an instance that alone exceeds its budget is cut from; its ``Output:`` tail stays.
        step_order_seed: re-draw shuffled steps with this seed (``None``: keep the row's order).
    """
    rows = list(rows)
    budgets = [budgets] * len(rows) if isinstance(budgets, int) else list(budgets)
    fitted = [_row(r, b, step_order_seed) for r, b in zip(rows, budgets, strict=True)]
    report = FitReport(total=len(rows), budget=min(budgets, default=None), side=side, step_order_seed=step_order_seed)
    texts = [f.render() for f in fitted]
    over = [i for i, n in enumerate(_lengths(tokenizer, texts)) if n > fitted[i].budget]
    report.over_budget = len(over)
    while over:
        shrinking = [i for i in over if fitted[i].drop_one()]
        for i in shrinking:
            texts[i] = fitted[i].render()
        lengths = _lengths(tokenizer, [texts[i] for i in shrinking])
        still = [i for i, n in zip(shrinking, lengths) if n > fitted[i].budget]
        for i in sorted(set(over) - set(shrinking)):  # nothing left to drop: cut the definition, else the instance
            texts[i], what = _cut(tokenizer, fitted[i], side)
            setattr(report, what, getattr(report, what) + 1)
        over = still
    for f in fitted:
        report.examples_dropped += f.keep[0] < len(f.negatives) or f.keep[1] < len(f.positives)
        report.steps_cut += f.keep[2] < len(f.steps)
    return texts, report


def _cut(tokenizer, row: _Row, side: str) -> tuple[str, str]:
    """Definition + instance still too long: keep the instance whole and the definition's start, or cut the instance."""
    specials = len(tokenizer("")["input_ids"])
    prefix = render_prefix(row.definition, (), (), (), row.add_explanation)
    instance = instance_block(row.instance)
    instance_ids = tokenizer(instance, add_special_tokens=False)["input_ids"]
    room = row.budget - specials - len(instance_ids)
    if room > 0 and prefix:
        prefix_ids = tokenizer(prefix, add_special_tokens=False)["input_ids"]
        for keep in range(room, 0, -1):  # decoding then re-encoding can merge tokens across the cut: check
            text = tokenizer.decode(prefix_ids[:keep]) + instance
            if _lengths(tokenizer, [text])[0] <= row.budget:
                return text, "definition_cut"
    tail = tokenizer("\nOutput: ", add_special_tokens=False)["input_ids"]
    body = instance_ids[: len(instance_ids) - len(tail)]
    text = tokenizer.decode(tail)
    for room in range(max(1, row.budget - specials - len(tail)), 0, -1):  # re-encoded, the text must fit too
        text = tokenizer.decode((body[:room] if side == "right" else body[-room:]) + tail)
        if _lengths(tokenizer, [text])[0] <= row.budget:
            break
    return text, "instance_cut"
