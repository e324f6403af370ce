"""Helpers to write small SUP-NATINST checkouts in tests."""

from __future__ import annotations

import json
from pathlib import Path


def write_task(root: Path, name: str, data: dict | str, split: str = "train") -> Path:
    """Write a task file (a dict as JSON, or raw text) and list it in a split."""
    (root / "tasks").mkdir(parents=True, exist_ok=True)
    path = root / "tasks" / f"{name}.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    split_file = root / "splits" / "default" / f"{split}_tasks.txt"
    split_file.parent.mkdir(parents=True, exist_ok=True)
    names = split_file.read_text().split() if split_file.exists() else []
    if name not in names:
        split_file.write_text("\n".join([*names, name]) + "\n")
    return path


def minimal_task(n_instances: int = 3, **overrides) -> dict:
    data = {
        "Definition": ["Copy the input"],
        "Categories": ["Misc."],
        "Positive Examples": [{"input": "a", "output": "a", "explanation": "copied"}],
        "Negative Examples": [],
        "Instances": [{"id": f"t-{i}", "input": f"in {i}", "output": [f"out {i}"]} for i in range(n_instances)],
    }
    data.update(overrides)
    return data
