"""What a steps store holds beyond one record per built task: superseded and foreign records.

Regeneration appends, so a task may have several records and the last one wins; a store made for
a larger corpus holds records of tasks this build does not list. Both are legitimate, but a user
must be able to see them: ``validate`` lists them and ``build`` says how many it ignored and
which record (file:line) each task got.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

SHOWN = 5


@dataclass
class StepsAudit:
    """Line numbers (1-based, as ``scan_steps_store`` counts them) of a store's records, by task."""

    path: str
    lines: dict[str, list[int]] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)

    @property
    def duplicated(self) -> dict[str, list[int]]:
        return {name: numbers for name, numbers in self.lines.items() if len(numbers) > 1}

    @property
    def ignored(self) -> int:
        """Records no row is built from: superseded ones and those of tasks not in the corpus."""
        superseded = sum(len(numbers) - 1 for name, numbers in self.lines.items() if name not in self.unknown)
        return superseded + sum(len(self.lines[name]) for name in self.unknown)

    def notes(self) -> list[str]:
        """One line per kind of ignored record, naming the first few tasks and which line won."""
        notes = []
        duplicated = {n: lines for n, lines in self.duplicated.items() if n not in self.unknown}
        if duplicated:
            shown = "; ".join(
                f"{name}: {self.path}:{lines[-1]} wins over line(s) {', '.join(map(str, lines[:-1]))}"
                for name, lines in list(duplicated.items())[:SHOWN]
            )
            more = f"; ... (and {len(duplicated) - SHOWN} more)" if len(duplicated) > SHOWN else ""
            notes.append(
                f"{self.path}: {len(duplicated)} task(s) have more than one record; the last one is used "
                f"(regeneration appends): {shown}{more}"
            )
        if self.unknown:
            shown = ", ".join(f"{name} (line {self.lines[name][-1]})" for name in self.unknown[:SHOWN])
            more = f", ... (and {len(self.unknown) - SHOWN} more)" if len(self.unknown) > SHOWN else ""
            notes.append(
                f"{self.path}: records of {len(self.unknown)} task(s) not in the corpus (not listed in its "
                f"splits, or skipped) are ignored: {shown}{more}"
            )
        return notes


def audit_steps_store(path: str | os.PathLike, task_names: Iterable[str]) -> StepsAudit:
    """Where each task's records are in the store; unreadable lines are left to the store's reader."""
    audit = StepsAudit(str(path))
    lines = Path(path).read_bytes().split(b"\n")
    for lineno, raw in enumerate(lines, start=1):
        try:
            name = json.loads(raw.decode("utf-8")).get("task_name") if raw.strip() else None
        except (ValueError, AttributeError):
            continue
        if isinstance(name, str):
            audit.lines.setdefault(name, []).append(lineno)
    known = set(task_names)
    audit.unknown = [name for name in audit.lines if name not in known]
    return audit
