"""The one prompt template: the Tk-Instruct encoding of SUP-NATINST, plus the steps block.

Every configuration, every recipe and every notebook renders prompts through this module, so a
model trained on one configuration is evaluated on exactly the same encoding. It reproduces
Tk-Instruct's ``DataCollatorForNI`` byte for byte (ASCII hyphens, the leading space before
`` Positive Example``/`` Output:``, a period added when a field does not end in punctuation).
The steps go right after the definition as a numbered block.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import Protocol


class ExampleLike(Protocol):
    input: str
    output: str
    explanation: str


def _end_with_punctuation(text: str) -> str:
    """Tk-Instruct appends a period when a field does not already end in punctuation."""
    return text if text and text[-1] in string.punctuation else text + "."


def definition_block(definition: str) -> str:
    return _end_with_punctuation("Definition: " + definition.strip()) + "\n\n"


def steps_block(steps: Sequence[str]) -> str:
    if not steps:
        return ""
    lines = "".join(f"{i}. {step.strip()}\n" for i, step in enumerate(steps, start=1))
    return "Steps:\n" + lines + "\n"


def example_block(kind: str, index: int, example: ExampleLike, add_explanation: bool) -> str:
    """`` Positive Example 1 -\\nInput: ….\\n Output: ….\\n`` (+ explanation) ``\\n``."""
    text = _end_with_punctuation(f" {kind} Example {index} -\nInput: {example.input.strip()}") + "\n"
    text = _end_with_punctuation(text + f" Output: {example.output.strip()}") + "\n"
    if add_explanation and example.explanation:
        text = _end_with_punctuation(text + f" Explanation: {example.explanation.strip()}") + "\n"
    return text + "\n"


def instance_block(instance_input: str) -> str:
    return _end_with_punctuation(f"Now complete the following example -\nInput: {instance_input.strip()}") + "\nOutput: "


def render_prefix(
    definition: str | None = None,
    steps: Sequence[str] = (),
    positive_examples: Sequence[ExampleLike] = (),
    negative_examples: Sequence[ExampleLike] = (),
    add_explanation: bool = False,
) -> str:
    """Everything before the instance; the same for every instance of a task."""
    parts = [definition_block(definition) if definition is not None else "", steps_block(steps)]
    parts += [example_block("Positive", i, ex, add_explanation) for i, ex in enumerate(positive_examples, 1)]
    parts += [example_block("Negative", i, ex, add_explanation) for i, ex in enumerate(negative_examples, 1)]
    return "".join(parts)


def render_prompt(
    instance_input: str,
    definition: str | None = None,
    steps: Sequence[str] = (),
    positive_examples: Sequence[ExampleLike] = (),
    negative_examples: Sequence[ExampleLike] = (),
    add_explanation: bool = False,
) -> str:
    """The model input for one instance; pass ``definition=None`` to leave the definition out."""
    prefix = render_prefix(definition, steps, positive_examples, negative_examples, add_explanation)
    return prefix + instance_block(instance_input)
