"""Turn a model's answer into a list of steps, or reject it with a reason the model can act on.

Accepted: numbered lines (``1.``, ``1)``, ``Step 1:``, markdown bold around the marker) or
bullets (``-``, ``*``, ``•``); indented lines and sub-items are folded into their step; an
introduction before the first item and a closing remark after a blank line are dropped.
Rejected: a refusal, a paragraph with no list, a single step, steps that merely repeat the
definition, more or longer steps than a build accepts (:class:`StepsLimits`). A rejection is never turned into an empty or fake record.
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher

from ..stores.steps import StepsLimits

NUMBERED = re.compile(r"^(\s*)(?:\*\*|__)?(?:step\s*)?(\d{1,2})\s*[.):\-]\s*(?:\*\*|__)?\s*(.*)$", re.IGNORECASE)
BULLET = re.compile(r"^(\s*)[-*•+]\s+(.*)$")
REFUSAL = re.compile(
    r"^\W*(i'?m sorry|i am sorry|sorry,|i can(?:'|no)t|i cannot|i am unable|i'm unable|"
    r"as an ai|i won'?t be able|unfortunately,? i)",
    re.IGNORECASE,
)
REPEAT_RATIO = 0.85  # steps this similar to the definition add nothing


class StepsParseError(ValueError):
    """The answer is not a usable list of steps; ``reason`` is sent back to the model on retry."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _item(line: str) -> tuple[int, str] | None:
    """(indent, text) when ``line`` starts a list item."""
    m = NUMBERED.match(line)
    if m:
        return len(m.group(1).expandtabs(4)), m.group(3)
    m = BULLET.match(line)
    if m:
        return len(m.group(1).expandtabs(4)), m.group(2)
    return None


def _clean(text: str) -> str:
    text = re.sub(r"\*\*|__", "", text)
    return re.sub(r"\s+", " ", text).strip()


def split_steps(text: str) -> list[str]:
    """The items of the top-level list in ``text`` (nested lines folded into their item)."""
    steps: list[list[str]] = []
    top_indent: int | None = None
    blank_before = closed = False
    for line in text.splitlines():
        if not line.strip():
            blank_before = True
            continue
        item = _item(line)
        indent = len(line.expandtabs(4)) - len(line.expandtabs(4).lstrip())
        if item and (top_indent is None or item[0] <= top_indent):
            top_indent = item[0] if top_indent is None else top_indent
            steps.append([item[1]])
            closed = False
        elif steps and not closed and (indent > (top_indent or 0) or item or not blank_before):
            steps[-1].append(item[1] if item else line.strip())  # nested line or continuation
        elif steps:
            closed = True  # a closing remark after the list is dropped
        blank_before = False
    return [s for s in (_clean(" ".join(parts)) for parts in steps) if s]


def _normalize(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def parse_steps(text: str | None, definition: str) -> list[str]:
    """The steps in ``text``; raises :class:`StepsParseError` when it is not a step list."""
    text = (text or "").strip()
    if not text:
        raise StepsParseError("the answer is empty")
    if REFUSAL.match(text):
        raise StepsParseError("the answer is a refusal, not steps")
    steps = split_steps(text)
    if not steps:
        raise StepsParseError("the answer is a paragraph, not a numbered list of steps")
    if len(steps) < 2:
        raise StepsParseError("the answer has a single step; break the task into at least 2 steps")
    limits = StepsLimits()
    if len(steps) > limits.max_num_steps_per_task:
        raise StepsParseError(f"the answer has {len(steps)} steps; write at most {limits.max_num_steps_per_task}")
    longest = max(steps, key=len)
    if len(longest) > limits.max_chars_per_step:
        raise StepsParseError(f"a step has {len(longest)} characters; keep each step under {limits.max_chars_per_step} "
                              "characters (one sentence)")
    joined, target = _normalize(" ".join(steps)), _normalize(definition)
    if target and SequenceMatcher(None, joined, target, autojunk=False).ratio() >= REPEAT_RATIO:
        raise StepsParseError("the steps merely repeat the task definition; break it down into actions")
    return steps
