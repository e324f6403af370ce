"""The bugs a new user met (issue 24), one test each: the exit status, the one-line message
naming the file/line/task and the fix, and nothing on disk changed."""

from __future__ import annotations

import errno
import io
import json
import os
from pathlib import Path

import pytest

from fuzz_helpers import assert_one_error_naming, run_cli, snapshot
from stepinst_data.generation.parse import StepsParseError, parse_steps
from stepinst_data.ratings import agreement as ag
from stepinst_data.sample import SAMPLE_NATINST, SAMPLE_RATINGS, SAMPLE_STEPS
from stepinst_data.stores.steps import StepsLimits

FIRST_TRAIN = "task9001_stepinst_sample_integer_addition"


def _build(natinst, out, *extra) -> list:
    return ["build", "--natinst", natinst, "--out", out, "--no-progress", "--configs", "definition", *extra]


# -- 1. a task listed twice in a split list -----------------------------------------------------

def test_a_task_listed_twice_in_a_split_list_is_refused_by_build_and_validate(sample_copy, tmp_path):
    train = sample_copy / "splits" / "default" / "train_tasks.txt"
    lines = train.read_text(encoding="utf-8").splitlines()
    train.write_text("\n".join([*lines, "", lines[0]]) + "\n", encoding="utf-8")
    before = snapshot(sample_copy)
    out = tmp_path / "out"
    run = run_cli(_build(sample_copy, out))
    assert_one_error_naming(run, str(train))
    assert f"{FIRST_TRAIN!r} on lines 1, {len(lines) + 2}" in run.err and "Delete the repeated line" in run.err
    assert not out.exists() and snapshot(sample_copy) == before
    check = run_cli(["validate", "--natinst", sample_copy])
    assert check.code == 1 and f"{train}: 1 task(s) listed more than once" in check.out


# -- 3. score refuses predictions that are not text ---------------------------------------------

@pytest.mark.parametrize("value, shown", [(None, "null"), (5, "5 (a number)"), (["yes"], '["yes"] (a list)')])
def test_score_refuses_a_prediction_that_is_not_text(tmp_path, value, shown):
    refs, preds, out = tmp_path / "refs.jsonl", tmp_path / "preds.jsonl", tmp_path / "metrics.json"
    refs.write_text("".join(json.dumps({"id": f"t1-{i}", "references": ["5"]}) + "\n" for i in range(2)), encoding="utf-8")
    preds.write_text(json.dumps({"id": "t1-0", "prediction": "5"}) + "\n" + json.dumps({"id": "t1-1", "prediction": value}) + "\n",
                     encoding="utf-8")
    before = snapshot(tmp_path)
    run = run_cli(["score", "--predictions", preds, "--references", refs, "--out", out])
    assert_one_error_naming(run, f"{preds}:2: id 't1-1': `prediction` is {shown}, not text")
    assert snapshot(tmp_path) == before


# -- 4. a documented limit on steps -------------------------------------------------------------

def _steps_with(tmp_path: Path, steps: list[str]) -> Path:
    records = [json.loads(line) for line in SAMPLE_STEPS.read_text(encoding="utf-8").splitlines()]
    records[0]["steps"] = steps
    store = tmp_path / "steps.jsonl"
    store.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return store


@pytest.mark.parametrize("steps, flag, needed, said", [
    ([f"Step {i}." for i in range(33)], "--max-num-steps-per-task", "33", " has 33 steps, more than the limit of 32"),
    (["Read it.", "x" * 4001], "--max-chars-per-step", "4001", ": step 2 has 4,001 characters, more than the limit of 4,000"),
])
def test_steps_past_the_limit_are_refused_naming_the_task_unless_the_flag_raises_it(tmp_path, steps, flag, needed, said):
    store = _steps_with(tmp_path, steps)
    before = snapshot(store)
    out = tmp_path / "out"
    args = _build(SAMPLE_NATINST, out, "--steps", store, "--configs", "steps_ordered")
    run = run_cli(args)
    assert_one_error_naming(run, f"{store}:1: task {FIRST_TRAIN!r}{said}")
    assert f"pass {flag} {needed}" in run.err and not out.exists()
    check = run_cli(["validate", "--natinst", SAMPLE_NATINST, "--steps", store])
    assert check.code == 1 and said in check.out
    assert run_cli([*args, flag, needed]).code == 0
    assert run_cli(["validate", "--natinst", SAMPLE_NATINST, "--steps", store, flag, needed]).code == 0
    assert snapshot(store) == before


def test_the_generator_rejects_answers_a_build_would_refuse():
    limits = StepsLimits()
    many = "\n".join(f"- Do thing {i} now." for i in range(limits.max_num_steps_per_task + 1))
    with pytest.raises(StepsParseError, match="write at most 32"):
        parse_steps(many, "Add two numbers.")
    with pytest.raises(StepsParseError, match="keep each step under 4000"):
        parse_steps("1. Read the input.\n2. " + "y" * 4001, "Add two numbers.")


def test_a_regenerated_record_within_the_limits_replaces_one_past_them(tmp_path):
    """The store is append-only: regenerating appends a record, and only the record in force counts."""
    from stepinst_data.stores.steps import read_steps_store

    store = tmp_path / "steps.jsonl"
    record = {"task_name": "task001_x", "raw": "", "model": "m", "prompt_version": "v", "definition_sha256": "0" * 64,
              "created_at": "2026-12-06T00:00:00Z", "usage": None}
    store.write_text(json.dumps({**record, "steps": [f"step {i}" for i in range(40)]}) + "\n"
                     + json.dumps({**record, "steps": ["a", "b", "c"]}) + "\n")
    assert read_steps_store(store, StepsLimits())["task001_x"].steps == ["a", "b", "c"]
    store.write_text(store.read_text() + json.dumps({**record, "steps": [f"s{i}" for i in range(33)]}) + "\n")
    with pytest.raises(ValueError, match=r"steps.jsonl:3: task 'task001_x' has 33 steps"):
        read_steps_store(store, StepsLimits())


def test_network_errors_get_no_folder_advice(monkeypatch, capsys):
    import errno

    from stepinst_data import cli

    assert "writable" in cli._os_error(PermissionError(errno.EACCES, "Permission denied", "/x"))
    assert "disk has space" in cli._os_error(OSError(errno.ENOSPC, "No space left on device", "/x"))
    assert cli._os_error(ConnectionError("Connection refused")) == "Connection refused"


def test_the_limits_are_documented_with_their_defaults():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    assert "--max-num-steps-per-task" in readme and "--max-chars-per-step" in readme
    help_text = run_cli(["build", "--help"]).out
    assert "(default: 32)" in help_text and "(default: 4000)" in help_text


# -- 6. messages --------------------------------------------------------------------------------

@pytest.fixture
def read_only(monkeypatch, tmp_path):
    """A folder this process cannot write (chmod for a normal user; the OS calls refused for root,
    who writes anywhere)."""
    folder = tmp_path / "read_only"
    folder.mkdir()
    inside = str(folder) + os.sep
    real_open, real_mkdir, real_io_open = os.open, os.mkdir, io.open

    def refuse(path) -> None:
        if os.fspath(path).startswith(inside):
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))

    def os_open(path, flags, *args, **kwargs):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            refuse(path)
        return real_open(path, flags, *args, **kwargs)

    def io_open(file, mode="r", *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and any(c in mode for c in "wax+"):
            refuse(file)
        return real_io_open(file, mode, *args, **kwargs)

    def mkdir(path, *args, **kwargs):
        refuse(str(path) + os.sep)
        return real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", os_open)
    monkeypatch.setattr(os, "mkdir", mkdir)
    monkeypatch.setattr(io, "open", io_open)
    folder.chmod(0o555)
    yield folder
    folder.chmod(0o755)


def test_rate_import_into_a_read_only_folder_is_one_line(read_only, tmp_path):
    sheet = tmp_path / "sheet.csv"
    sheet.write_text("task_name,annotator,correctness,completeness,order,overall\ntask1_a,alice,4,4,4,4\n", encoding="utf-8")
    store = read_only / "ratings.jsonl"
    run = run_cli(["rate", "import", sheet, "--ratings", store])
    assert_one_error_naming(run, f"{store}: cannot write the store")
    assert "Permission denied" in run.err and f"make its folder {read_only} writable" in run.err
    assert list(read_only.iterdir()) == []


def test_steps_generate_into_a_read_only_folder_is_one_line(read_only, monkeypatch):
    from fake_openai import FakeOpenAI

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    store = read_only / "steps.jsonl"
    with FakeOpenAI() as server:
        run = run_cli(["steps", "generate", "--sample", "--model", "gpt-4o-mini", "--steps", store,
                       "--base-url", server.base_url, "--tasks", "test", "--no-progress"])
        assert not server.chat_requests(), "nothing may be asked (and paid) before the store is known writable"
    assert_one_error_naming(run, f"{store}: cannot write the store")
    assert list(read_only.iterdir()) == []


def test_a_latin1_sheet_names_the_file_and_the_fix(tmp_path):
    sheet = tmp_path / "sheet.csv"
    sheet.write_bytes("task_name,annotator,correctness,completeness,order,overall,comment\n"
                      "task1_a,hélène,4,4,4,4,très bien\n".encode("latin-1"))
    store = tmp_path / "ratings.jsonl"
    run = run_cli(["rate", "import", sheet, "--ratings", store])
    assert_one_error_naming(run, f"{sheet}:2: not UTF-8 (byte 0xe9")
    assert "re-save it as UTF-8" in run.err and not store.exists()


def test_a_csv_given_to_build_ratings_points_to_rate_import(tmp_path):
    sheet = tmp_path / "sheet.csv"
    sheet.write_text("task_name,annotator,correctness,completeness,order,overall\n", encoding="utf-8")
    out = tmp_path / "out"
    run = run_cli(_build(SAMPLE_NATINST, out, "--steps", SAMPLE_STEPS, "--ratings", sheet, "--configs", "ratings"))
    assert_one_error_naming(run, f"{sheet}: this is a CSV sheet, not a ratings store")
    assert f"`stepinst rate import {sheet} --ratings ratings.jsonl`" in run.err and not out.exists()


def test_a_header_only_sheet_warns_that_nothing_was_imported(tmp_path, caplog):
    sheet = tmp_path / "sheet.csv"
    sheet.write_text("task_name,annotator,correctness,completeness,order,overall\n\n", encoding="utf-8")
    store = tmp_path / "ratings.jsonl"
    run = run_cli(["rate", "import", sheet, "--ratings", store])
    assert run.code == 0 and "imported 0 rating(s)" in run.out
    assert any("holds no rating rows" in r.getMessage() and str(sheet) in r.getMessage() for r in caplog.records)
    assert not store.exists()


@pytest.mark.parametrize("name", [f" {FIRST_TRAIN}", f"{FIRST_TRAIN} ", f"{FIRST_TRAIN}\t"])
def test_a_steps_record_with_a_padded_task_name_is_refused_naming_line_and_name(tmp_path, name):
    lines = SAMPLE_STEPS.read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[0])
    lines[0] = json.dumps({**record, "task_name": name})
    store = tmp_path / "steps.jsonl"
    store.write_text("\n".join(lines) + "\n", encoding="utf-8")
    before = snapshot(store)
    run = run_cli(_build(SAMPLE_NATINST, tmp_path / "out", "--steps", store, "--configs", "steps_ordered"))
    assert_one_error_naming(run, f"{store}:1: task name {name!r} is empty or has leading/trailing spaces")
    assert "never strips a name silently" in run.err and snapshot(store) == before


# -- 8. one rounding of agreement; the usage of rate report ------------------------------------

def test_rate_report_and_the_card_round_alpha_the_same_way(monkeypatch, tmp_path):
    from stepinst_data.card import sections
    from stepinst_data.dataset.inputs import load_build_inputs

    monkeypatch.setattr(ag, "ordinal_alpha", lambda *a, **k: 0.92651)
    monkeypatch.setattr(sections, "ordinal_alpha", lambda *a, **k: 0.92651)
    report = run_cli(["rate", "report", "--ratings", SAMPLE_RATINGS])
    assert report.code == 0
    row = next(line for line in report.out.splitlines() if line.startswith("completeness"))
    assert row.split()[-2] == "0.927"
    as_json = json.loads(run_cli(["rate", "report", "--ratings", SAMPLE_RATINGS, "--json"]).out)
    assert as_json["criteria"]["completeness"]["alpha_ordinal"] == 0.927
    inputs = load_build_inputs(SAMPLE_NATINST, SAMPLE_STEPS, SAMPLE_RATINGS, cache_dir=tmp_path / "cache")
    card = sections.ratings_section(inputs)
    assert "| 0.927 |" in next(line for line in card.splitlines() if line.startswith("| `completeness`"))
    assert ag.format_agreement(0.92651) == "0.927" and ag.format_agreement(0.9265) == "0.926"  # 0.9265 is 0.92649999...


def test_rate_report_usage_shows_ratings_as_required():
    usage = run_cli(["rate", "report", "--help"]).out.split("\n\n")[0]
    assert "--ratings RATINGS" in usage and "[--ratings" not in usage


def test_readme_counts_the_tests_that_skip_without_the_real_sample():
    """README says how many tests skip without ../shared/natinst: those that take its fixture."""
    import ast

    tests = Path(__file__).resolve().parent
    count = sum(
        1
        for path in tests.glob("test_*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
        and "shared_natinst" in [a.arg for a in node.args.args]
    )
    readme = (tests.parent / "README.md").read_text(encoding="utf-8")
    assert f"Without `../shared/natinst` (the real SUP-NATINST sample, never\ncommitted) {count} tests skip" in readme


# -- found by the property tests (tests/test_fuzz_*.py), kept as plain tests --------------------

def _one_task_corpus(tmp_path: Path, raw: bytes) -> Path:
    root = tmp_path / "natinst"
    (root / "tasks").mkdir(parents=True)
    (root / "splits" / "default").mkdir(parents=True)
    (root / "tasks" / "task900_fuzz_qa.json").write_bytes(raw)
    (root / "splits" / "default" / "train_tasks.txt").write_text("task900_fuzz_qa\n", encoding="utf-8")
    (root / "splits" / "default" / "test_tasks.txt").write_text("", encoding="utf-8")
    return root


def _task(**changes) -> dict:
    task = {"Definition": ["Answer."], "Categories": ["QA"], "Positive Examples": [],
            "Instances": [{"id": "task900-1", "input": "q", "output": ["a"]}]}
    return {**task, **changes}


@pytest.mark.parametrize("raw, said", [
    # a lone surrogate escape in an input: validate said "no problems", build failed at the Parquet write
    # with "'utf-8' codec can't encode character '\ud800'" and no file name
    (json.dumps(_task(Instances=[{"id": "task900-1", "input": "\ud800", "output": ["a"]}])).encode(),
     "['Instances'][0]['input']: a lone surrogate escape"),
    # UTF-8-encoded surrogate bytes (in a key nobody reads): json.loads(bytes) let them through
    (json.dumps(_task(Extra="\ud800"), ensure_ascii=False).encode("utf-8", "surrogatepass"), "not valid JSON"),
    # a number as an instance id became the text "5"; as a category, "7"
    (json.dumps(_task(Instances=[{"id": 5, "input": "q", "output": ["a"]}])).encode(), "'id' is 5; an instance id is a non-empty JSON string"),
    (json.dumps(_task(Categories=[7])).encode(), "'Categories'[0] is '7' (a JSON int, not a string)"),
    # Instances as a number raised TypeError ('int' object is not subscriptable): a traceback
    (json.dumps(_task(Instances=5)).encode(), "'Instances' must be a list"),
])
def test_broken_task_files_found_by_fuzzing_are_refused_naming_the_file(tmp_path, raw, said):
    root = _one_task_corpus(tmp_path, raw)
    before = snapshot(root)
    check = run_cli(["validate", "--natinst", root, "--cache-dir", tmp_path / "cache"])
    assert check.code == 1 and said in check.out and "task900_fuzz_qa.json" in check.out
    out = tmp_path / "out"
    run = run_cli(_build(root, out, "--cache-dir", tmp_path / "cache"))
    # one line naming the file (it was "error: 1 task file(s) could not be read:" and the file on the next line)
    assert_one_error_naming(run, str(root / "tasks" / "task900_fuzz_qa.json"))
    assert not out.exists() and snapshot(root) == before


def test_a_cancelled_source_digest_leaves_no_thread_writing_the_cache(tmp_path):
    """A failed build's hashing thread still wrote the cache file after the build returned, while
    the caller was removing the folder (found by the steps property test)."""
    from stepinst_data.source.digest import BackgroundDigest

    digest = BackgroundDigest(SAMPLE_NATINST, False, tmp_path / "cache")
    digest.cancel()
    assert not digest._thread.is_alive()


def test_a_score_in_another_script_is_refused_not_read_as_a_number(tmp_path):
    sheet = tmp_path / "sheet.csv"
    sheet.write_text("task_name,annotator,correctness,completeness,order,overall\ntask1_a,alice,1,1,1,٣\n", encoding="utf-8")
    run = run_cli(["rate", "import", sheet, "--ratings", tmp_path / "ratings.jsonl"])
    assert_one_error_naming(run, str(sheet))
    assert "'overall' must be an integer score, got '٣'" in run.err and not (tmp_path / "ratings.jsonl").exists()


@pytest.mark.parametrize("line", [b"5\n", b"[1]\n", b'{"id": 7, "prediction": "x"}\n', b"\xe9\n"])
def test_score_refuses_a_line_that_is_not_a_prediction_object(tmp_path, line):
    refs, preds = tmp_path / "refs.jsonl", tmp_path / "preds.jsonl"
    refs.write_text(json.dumps({"id": "t1-0", "references": ["a"]}) + "\n", encoding="utf-8")
    preds.write_bytes(json.dumps({"id": "t1-0", "prediction": "a"}).encode() + b"\n" + line)
    assert_one_error_naming(run_cli(["score", "--predictions", preds, "--references", refs]), f"{preds}:2:")
