"""Synthetic SUP-NATINST checkouts for the generation tests and benchmark (any number of tasks)."""

from __future__ import annotations

from pathlib import Path

from natinst_helpers import write_task

VERBS = ["Count", "Classify", "Translate", "Summarize", "Extract", "Rewrite", "Answer", "Label", "Order", "Compare"]
OBJECTS = ["vowels", "sentences", "entities", "numbers", "questions", "reviews", "dates", "claims", "names", "verbs"]


def definition_for(index: int) -> str:
    verb, obj = VERBS[index % len(VERBS)], OBJECTS[(index // len(VERBS)) % len(OBJECTS)]
    return (
        f"In this task {index}, you are given a short passage. {verb} the {obj} that appear in the "
        f"passage and report them following the output format of task number {index}."
    )


def task_name(index: int) -> str:
    return f"task{9100 + index}_synthetic_{VERBS[index % len(VERBS)].lower()}"


def write_synthetic_task(root: Path, index: int, definition: str | None = None, split: str = "train") -> str:
    """Write synthetic task ``index`` (listed in ``split``); pass ``definition`` to change it."""
    name = task_name(index)
    data = {
        "Definition": [definition or definition_for(index)],
        "Categories": ["Synthetic"],
        "Positive Examples": [{"input": f"passage {index}", "output": "answer", "explanation": "because"}],
        "Negative Examples": [],
        "Instances": [{"id": f"{name}-1", "input": f"passage {index}", "output": ["answer"]}],
    }
    write_task(root, name, data, split)
    return name


def write_natinst(root: Path, num_train: int, num_test: int = 0) -> dict[str, str]:
    """A checkout with ``num_train + num_test`` tasks; returns {definition: task name}."""
    names = {
        definition_for(i): write_synthetic_task(root, i, split="train" if i < num_train else "test")
        for i in range(num_train + num_test)
    }
    for split in ("train", "test"):  # both lists exist, even an empty one
        (root / "splits" / "default" / f"{split}_tasks.txt").touch()
    return names
