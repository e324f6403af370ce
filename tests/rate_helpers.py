"""Helpers of the ratings tests: the embedded sample's tasks, small stores and CSV files."""

from __future__ import annotations

import json
from pathlib import Path

from stepinst_data.ratings.server import RatingSession
from stepinst_data.ratings.tasks import rateable_tasks
from stepinst_data.stores.ratings import DEFAULT_RUBRIC, Rubric
from stepinst_data.sample import SAMPLE_NATINST, SAMPLE_STEPS
from stepinst_data.stores.steps import read_steps_store

CRITERIA = DEFAULT_RUBRIC.criterion_names
SAMPLE_TASKS = list(json.loads(line)["task_name"] for line in SAMPLE_STEPS.read_text().splitlines() if line.strip())
HEADER = "task_name,annotator,correctness,completeness,order,overall,comment\n"


def write_jsonl(path: Path, records: list[dict], rubric: Rubric | None = DEFAULT_RUBRIC) -> Path:
    lines = [json.dumps({"rubric": rubric.to_dict()})] if rubric else []
    lines += [json.dumps(r) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def rating(task: str, annotator: str, *scores: int, comment: str = "") -> dict:
    """A record; one score repeated for every criterion when only one is given."""
    if len(scores) == 1:
        scores = scores * len(CRITERIA)
    return {"task_name": task, "annotator": annotator, **dict(zip(CRITERIA, scores)), "comment": comment}


def sample_session(store: Path, annotator: str = "alice") -> RatingSession:
    tasks, _ = rateable_tasks(SAMPLE_NATINST, SAMPLE_STEPS)
    return RatingSession(SAMPLE_NATINST, tasks, read_steps_store(SAMPLE_STEPS), store, annotator, DEFAULT_RUBRIC)
