"""The versioned prompt that asks a chat model for a task's step-by-step instructions.

Its version goes into every steps record (``prompt_version``): change a word of the wording
below and bump :data:`PROMPT_VERSION`, so stores made with different prompts never mix silently.
With positive examples the version gets a ``+pos`` suffix, because the model saw more.
"""

from __future__ import annotations

from ..source.natinst import Task

PROMPT_VERSION = "steps-v1"

SYSTEM_PROMPT = (
    "You write step-by-step instructions for solving NLP tasks. Given a task definition, write "
    "the steps a person would follow to solve one instance of the task."
)

INSTRUCTIONS = (
    "Write the steps needed to solve this task.\n"
    "- Number them: 1., 2., 3., ... one step per line.\n"
    "- Each step is one imperative sentence (\"Read ...\", \"Find ...\", \"Write ...\") that can be "
    "understood without the other steps.\n"
    "- Use between 2 and 8 steps. Do not restate the definition; break it down into actions.\n"
    "- Answer with the numbered steps only, no introduction and no conclusion."
)

MAX_EXAMPLES = 2


def prompt_version(with_examples: bool) -> str:
    return PROMPT_VERSION + ("+pos" if with_examples else "")


def user_prompt(task: Task, with_examples: bool = False) -> str:
    parts = [f"Task definition:\n{task.definition.strip()}\n"]
    if with_examples:
        for i, ex in enumerate(task.positive_examples[:MAX_EXAMPLES], start=1):
            parts.append(f"Example {i}:\nInput: {ex.input.strip()}\nOutput: {ex.output.strip()}\n")
    parts.append(INSTRUCTIONS)
    return "\n".join(parts)


def prompt_text(version: str) -> str | None:
    """The full prompt of a ``prompt_version`` as sent, with a placeholder for the definition."""
    if version not in (PROMPT_VERSION, prompt_version(True)):
        return None
    examples = "" if version == PROMPT_VERSION else "\nExample 1:\nInput: <input>\nOutput: <output>\n\nExample 2: ...\n"
    user = f"Task definition:\n<the task definition>\n{examples}\n{INSTRUCTIONS}"
    return f"[system]\n{SYSTEM_PROMPT}\n\n[user]\n{user}"


def build_messages(task: Task, with_examples: bool = False) -> list[dict[str, str]]:
    """The chat messages of a first attempt."""
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": user_prompt(task, with_examples)},
    ]


def retry_messages(messages: list[dict[str, str]], answer: str, reason: str) -> list[dict[str, str]]:
    """The conversation of a retry: the rejected answer and why it was rejected."""
    feedback = (
        f"Your answer was rejected: {reason}. Answer again with the numbered steps only "
        "(1., 2., 3., ...), each one an imperative sentence."
    )
    return [*messages, {"role": "assistant", "content": answer}, {"role": "user", "content": feedback}]
