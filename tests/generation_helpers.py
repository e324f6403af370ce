"""Synthetic SUP-NATINST checkouts for the generation tests and benchmark (any number of tasks)."""

from __future__ import annotations

import json
from pathlib import Path

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


def write_task(root: Path, index: int, definition: str | None = None) -> str:
    name = task_name(index)
    data = {
        "Definition": [definition or definition_for(index)],
        "Categories": ["Synthetic"],
        "Positive Examples": [{"input": f"passage {index}", "output": "answer", "explanation": "because"}],
        "Negative Examples": [],
        "Instances": [{"id": f"{name}-1", "input": f"passage {index}", "output": ["answer"]}],
    }
    (root / "tasks").mkdir(parents=True, exist_ok=True)
    (root / "tasks" / f"{name}.json").write_text(json.dumps(data), encoding="utf-8")
    return name


def write_natinst(root: Path, num_train: int, num_test: int = 0) -> dict[str, str]:
    """A checkout with ``num_train + num_test`` tasks; returns {definition: task name}."""
    names = {definition_for(i): write_task(root, i) for i in range(num_train + num_test)}
    split_dir = root / "splits" / "default"
    split_dir.mkdir(parents=True, exist_ok=True)
    ordered = list(names.values())
    (split_dir / "train_tasks.txt").write_text("\n".join(ordered[:num_train]) + "\n")
    (split_dir / "test_tasks.txt").write_text("\n".join(ordered[num_train:]) + "\n")
    return names
