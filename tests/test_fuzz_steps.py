"""Property tests: generated steps stores for the embedded sample's tasks through ``validate
--steps`` and ``build --configs steps_ordered``, against a reference reader of the documented
store format (README "Stores"; the limits of ``StepsLimits``).

A store is usable when every line is a whole record (a torn last line is ignored), the last record
of each task wins, records of tasks outside the corpus are ignored, and every task has a record
made for its current definition. Then the rows carry exactly the reference's steps; otherwise both
commands exit 1 naming the store, and nothing is written.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from fuzz_helpers import CHARS, assert_one_error_naming, examples, run_cli, snapshot
from stepinst_data.sample import SAMPLE_NATINST, SAMPLE_STEPS

RECORDS = [json.loads(line) for line in SAMPLE_STEPS.read_text(encoding="utf-8").splitlines() if line.strip()]
TASKS = [r["task_name"] for r in RECORDS]
LIMITS = {"default": (32, 4000), "raised": (64, 8000)}
BAD = st.sampled_from([None, 5, 1.5, True, "", " ", [], {}, [5], [""], ["  "], "not a list"])
FIELDS = ["task_name", "steps", "model", "prompt_version", "definition_sha256", "raw", "created_at", "usage"]


def _is_text(value) -> bool:
    return type(value) is str


def ref_record(line: bytes, limits: tuple[int, int]) -> dict | None:
    """The record a line holds by the documented format, or None when the line must be refused."""
    try:
        data = json.loads(line.decode("utf-8"))
    except ValueError:
        return None
    if type(data) is not dict:
        return None
    if not all(_is_text(data.get(k)) for k in ("task_name", "model", "prompt_version", "definition_sha256")):
        return None
    if any(k in data and not _is_text(data[k]) for k in ("raw", "created_at")):
        return None
    if data.get("usage") is not None and type(data["usage"]) is not dict:
        return None
    name, steps = data["task_name"], data.get("steps")
    if not name.strip() or name != name.strip():
        return None
    if type(steps) is not list or not steps or not all(_is_text(s) and s.strip() for s in steps):
        return None
    if len(steps) > limits[0] or any(len(s) > limits[1] for s in steps):
        return None
    return data


def ref_steps(raw: bytes, limits: tuple[int, int]) -> dict[str, list[str]] | None:
    """Steps by task (the last record wins), or None when the store must be refused."""
    lines = raw.split(b"\n")
    found: dict[str, dict] = {}
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        record = ref_record(line, limits)
        if record is None:
            try:
                json.loads(line.decode("utf-8"))
                parses = True
            except ValueError:
                parses = False
            if i == len(lines) - 1 and not parses:
                continue  # a torn last line: an interrupted write, ignored
            return None
        found[record["task_name"]] = record
    fresh = {r["task_name"]: r["definition_sha256"] for r in RECORDS}
    if any(name not in found or found[name]["definition_sha256"] != sha for name, sha in fresh.items()):
        return None
    return {name: found[name]["steps"] for name in fresh}


@st.composite
def steps_stores(draw) -> bytes:
    records = [dict(r) for r in RECORDS]
    for _ in range(draw(st.integers(0, 2))):
        kind = draw(st.sampled_from(["bad_field", "drop_field", "drop", "regenerate", "foreign", "extra_field",
                                     "long_step", "many_steps", "padded_name", "stale"]))
        i = draw(st.integers(0, len(records) - 1))
        record = records[i]
        if kind == "bad_field":
            record[draw(st.sampled_from(FIELDS))] = draw(BAD)
        elif kind == "drop_field":
            record.pop(draw(st.sampled_from(FIELDS)), None)
        elif kind == "drop":
            records.pop(i)
        elif kind == "regenerate":  # a later record of the same task wins
            records.append({**record, "steps": draw(st.lists(st.text(CHARS, min_size=1, max_size=30).filter(str.strip), min_size=1, max_size=4))})
        elif kind == "foreign":
            records.append({**record, "task_name": "task999_not_in_the_corpus"})
        elif kind == "extra_field":
            record["note"] = draw(BAD)
        elif kind == "long_step":
            record["steps"] = [*record.get("steps", ["x"])[:1], "y" * draw(st.sampled_from([3999, 4000, 4001, 8000, 8001]))]
        elif kind == "many_steps":
            record["steps"] = [f"Step {k}." for k in range(draw(st.sampled_from([32, 33, 64, 65])))]
        elif kind == "padded_name":
            record["task_name"] = draw(st.sampled_from([" ", "", "\t"])) + str(record.get("task_name")) + draw(st.sampled_from(["", " "]))
        elif kind == "stale":
            record["definition_sha256"] = "0" * 64
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    raw = "".join(json.dumps(r, ensure_ascii=draw(st.booleans())) + newline for r in records).encode("utf-8")
    tail = draw(st.sampled_from(["none", "none", "torn", "garbage_middle", "blank_lines", "no_final_newline"]))
    if tail == "torn":
        raw += json.dumps(RECORDS[0]).encode()[: draw(st.integers(1, 60))]
    elif tail == "garbage_middle":
        raw = raw.replace(newline.encode(), newline.encode() + b'{"task_name": oops' + newline.encode(), 1)
    elif tail == "blank_lines":
        raw = newline.encode() + raw + newline.encode() * 2
    elif tail == "no_final_newline":
        raw = raw.rstrip(b"\r\n")
    return raw


@settings(max_examples=examples(40))
@given(raw=steps_stores(), limits=st.sampled_from(sorted(LIMITS)))
def test_steps_store_builds_the_reference_steps_or_one_error(raw, limits):
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "steps.jsonl"
        store.write_bytes(raw)
        flags = ["--max-num-steps-per-task", LIMITS[limits][0], "--max-chars-per-step", LIMITS[limits][1]]
        before = snapshot(store, SAMPLE_NATINST)
        expected = ref_steps(raw, LIMITS[limits])
        cache = Path(tmp) / "cache"
        check = run_cli(["validate", "--natinst", SAMPLE_NATINST, "--steps", store, "--cache-dir", cache, *flags])
        assert "Traceback" not in check.err + check.out
        assert check.code == (0 if expected is not None else 1), (check.out, check.err)
        out = Path(tmp) / "out"
        run = run_cli(["build", "--natinst", SAMPLE_NATINST, "--steps", store, "--out", out, "--configs", "steps_ordered",
                       "--no-progress", "--cache-dir", cache, *flags])
        assert snapshot(store, SAMPLE_NATINST) == before
        if expected is None:
            assert [line for line in check.out.splitlines() if line.strip()][0].startswith(str(store)), check.out
            assert_one_error_naming(run, str(store))
            assert not out.exists()
            return
        assert run.code == 0, run.err
        for path in (out / "data" / "steps_ordered").glob("*.parquet"):
            for row in pq.read_table(path, columns=["task_name", "steps"]).to_pylist():
                assert row["steps"] == expected[row["task_name"]]
