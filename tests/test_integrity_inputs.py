"""Bad real-world input gets a clear error naming file, task and field; nothing on disk changes.

Each case runs the real CLI on a writable copy of the embedded sample, with a previous build in
``--out``, and checks the exit status, the message, and that every file already there is intact.
"""

from __future__ import annotations

import functools
import json
import logging
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from datasets import load_dataset

from integrity_helpers import snapshot
from stepinst_data.cli import main
from stepinst_data.dataset.inputs import load_build_inputs
from stepinst_data.sample import SAMPLE_NATINST, SAMPLE_RATINGS, SAMPLE_STEPS
from stepinst_data.source.natinst import Sampling
from stepinst_data.source.table import load_task_table

TEST_TASK = "task9101_stepinst_sample_integer_subtraction"
EMPTY_TASK = "task9104_stepinst_sample_element_symbols"
NAN = float("nan")


@pytest.fixture
def previous_build(sample_build, tmp_path) -> Path:
    """A previous stepinst build in --out, which a failing build must leave exactly as it was."""
    out = tmp_path / "stepinst"
    shutil.copytree(sample_build, out)
    return out


def edit_task(natinst: Path, name: str, change) -> Path:
    """Apply ``change(data)`` to a task file and write it back as Python's json does (bare NaN)."""
    path = natinst / "tasks" / f"{name}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def build(natinst: Path, out: Path, *extra: str) -> int:
    return main(["build", "--natinst", str(natinst), "--steps", str(SAMPLE_STEPS), "--ratings", str(SAMPLE_RATINGS),
                 "--out", str(out), *extra])


INSTANCE_ID = "task9101-a5391728877b237cbe27c2c0be454603"  # Instances[1] of TEST_TASK


@pytest.mark.parametrize(
    "change, where, field",
    [
        (lambda d: d["Instances"][1].update(input=NAN), f"instance {INSTANCE_ID} (Instances[1])", "'input' is a bare NaN"),
        (lambda d: d["Instances"][1].update(output=["187", NAN]), f"instance {INSTANCE_ID} (Instances[1])",
         "'output'[1] is a bare NaN"),
        (lambda d: d["Instances"][1].update(output=[187]), f"instance {INSTANCE_ID} (Instances[1])",
         "'output'[0] is '187' (a JSON int, not a string)"),
        (lambda d: d["Instances"][1].update(input=None), f"instance {INSTANCE_ID} (Instances[1])", "'input' is null"),
        (lambda d: d["Positive Examples"][0].update(input=NAN), "Positive Examples[0]", "'input' is a bare NaN"),
        (lambda d: d["Negative Examples"][0].update(output=NAN), "Negative Examples[0]", "'output' is a bare NaN"),
        (lambda d: d["Positive Examples"][0].update(explanation=4.5), "Positive Examples[0]",
         "'explanation' is '4.5' (a JSON float, not a string)"),
        (lambda d: d.update(Definition=[NAN]), "", "'Definition'[0] is a bare NaN"),
    ],
)
def test_non_string_text_is_an_error_naming_file_task_and_field(sample_copy, previous_build, capsys, change, where, field):
    path = edit_task(sample_copy, TEST_TASK, change)
    before = snapshot(previous_build)
    assert build(sample_copy, previous_build) == 1
    err = capsys.readouterr().err
    location = f"{path}: task {TEST_TASK}" + (f", {where}" if where else "")
    assert f"{location}: {field}" in err, err
    assert "Write the text as a JSON string in the task file" in err
    assert snapshot(previous_build) == before

    assert main(["validate", "--natinst", str(sample_copy)]) == 1
    assert f"{location}: {field}" in capsys.readouterr().out


def test_no_nan_text_reaches_a_prompt_of_the_real_sample(shared_natinst):
    """The real SUP-NATINST files hold strings only: the check refuses nothing there."""
    assert main(["validate", "--natinst", str(shared_natinst), "--allow-missing-tasks"]) == 0


def test_a_listed_task_without_instances_is_refused(sample_copy, previous_build, capsys):
    edit_task(sample_copy, EMPTY_TASK, lambda d: d.update(Instances=[]))
    before = snapshot(previous_build)
    assert build(sample_copy, previous_build) == 1
    err = capsys.readouterr().err
    assert (f"{sample_copy}/tasks: 1 listed task(s) have an empty 'Instances' list: {EMPTY_TASK}. A task without "
            "instances has no rows in any configuration: fix the task file(s), or pass --skip-empty-tasks") in err
    assert snapshot(previous_build) == before
    assert main(["validate", "--natinst", str(sample_copy)]) == 1
    assert f"have an empty 'Instances' list: {EMPTY_TASK}" in capsys.readouterr().out
    assert main(["validate", "--natinst", str(sample_copy), "--steps", str(SAMPLE_STEPS), "--skip-empty-tasks"]) == 0


def test_skip_empty_tasks_lists_them_in_the_summary_manifest_and_card(sample_copy, tmp_path, capsys, hf_cache):
    edit_task(sample_copy, EMPTY_TASK, lambda d: d.update(Instances=[]))
    out = tmp_path / "built"
    assert build(sample_copy, out, "--skip-empty-tasks") == 0
    stdout = capsys.readouterr().out
    assert f"skipped 1 listed task(s) with no instances (--skip-empty-tasks): {EMPTY_TASK}" in stdout
    assert json.loads((out / "stepinst_build.json").read_text())["skipped_empty_tasks"] == [EMPTY_TASK]
    card = (out / "README.md").read_text()
    assert (f"- 1 listed task(s) have no instances and are not included (built with `--skip-empty-tasks`): "
            f"`{EMPTY_TASK}`.") in card
    test = load_dataset(str(out), "definition", split="test", cache_dir=hf_cache)
    assert len(set(test["task_name"])) == 3 and EMPTY_TASK not in set(test["task_name"])


@pytest.mark.parametrize("config", ["steps_ordered_hq", "ratings"])
def test_a_config_that_needs_ratings_is_refused_without_them(tmp_path, previous_build, capsys, config):
    before = snapshot(previous_build)
    args = ["build", "--natinst", str(SAMPLE_NATINST), "--steps", str(SAMPLE_STEPS), "--configs", config]
    assert main([*args, "--out", str(previous_build)]) == 1
    assert (f"configuration(s) ['{config}'] need human ratings: pass a ratings store (--ratings), "
            "or leave them out of --configs") in capsys.readouterr().err
    assert snapshot(previous_build) == before
    assert main([*args, "--out", str(tmp_path / "new")]) == 1
    assert not (tmp_path / "new").exists()


def test_steps_store_duplicates_and_foreign_records_are_listed(tmp_path, capsys, caplog, hf_cache):
    lines = SAMPLE_STEPS.read_text().splitlines()
    regenerated = json.loads(lines[1])
    regenerated["steps"] = ["Look at every number.", "Keep the biggest one.", "Say it."]
    foreign = {**json.loads(lines[0]), "task_name": "task9999_not_in_this_corpus"}
    store = tmp_path / "steps.jsonl"
    store.write_text("\n".join([*lines, json.dumps(regenerated), json.dumps(foreign)]) + "\n")
    name = regenerated["task_name"]
    duplicate_note = (f"{store}: 1 task(s) have more than one record; the last one is used (regeneration appends): "
                      f"{name}: {store}:13 wins over line(s) 2")
    foreign_note = f"{store}: records of 1 task(s) not in the corpus (not listed in its splits, or skipped) are ignored: task9999_not_in_this_corpus (line 14)"
    with caplog.at_level(logging.WARNING):
        assert main(["validate", "--natinst", str(SAMPLE_NATINST), "--steps", str(store)]) == 0
    assert duplicate_note in caplog.text and foreign_note in caplog.text
    caplog.clear()
    out = tmp_path / "out"
    with caplog.at_level(logging.WARNING):
        assert main(["build", "--natinst", str(SAMPLE_NATINST), "--steps", str(store), "--out", str(out),
                     "--configs", "steps_ordered"]) == 0
    assert f"{store}: ignoring 2 record(s) of the steps store" in caplog.text
    assert duplicate_note in caplog.text and foreign_note in caplog.text
    rows = load_dataset(str(out), "steps_ordered", split="train", cache_dir=hf_cache).filter(lambda r: r["task_name"] == name)
    assert rows[0]["steps"] == regenerated["steps"]  # the record that won is the one built


@pytest.mark.parametrize("num_proc", [0, -3])
def test_num_proc_below_one_is_refused(tmp_path, num_proc):
    message = rf"`num_proc={num_proc}` must be an integer >= 1"
    with pytest.raises(ValueError, match=message):
        load_build_inputs(SAMPLE_NATINST, cache_dir=tmp_path, num_proc=num_proc)
    with pytest.raises(ValueError, match=message):
        load_task_table(SAMPLE_NATINST, Sampling(), num_proc=num_proc, cache_dir=tmp_path)
    assert not (tmp_path / "tables").exists()


@pytest.fixture
def served(tmp_path):
    """A local HTTP server over a folder; yields (folder, base URL)."""
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _zip_of_sample(tmp_path: Path, dest: Path) -> None:
    shutil.copytree(SAMPLE_NATINST, tmp_path / "natural-instructions-master")
    shutil.make_archive(str(dest.with_suffix("")), "zip", tmp_path, "natural-instructions-master")


def test_a_download_that_is_not_an_archive_is_never_cached(served, tmp_path, capsys):
    root, base = served
    (root / "master.zip").write_text("<html><body>Rate limit exceeded</body></html>")
    url, cache = f"{base}/master.zip", tmp_path / "cache"
    args = ["build", "--natinst", url, "--steps", str(SAMPLE_STEPS), "--out", str(tmp_path / "out"), "--cache-dir", str(cache)]
    assert main(args) == 1
    err = capsys.readouterr().err
    folder = next(cache.glob("natinst/*"))
    assert f"{url} served 45 bytes that are not a zip or tar archive (it starts with b'<html><body>Rate" in err
    assert f"nothing was kept in the cache {folder}" in err
    assert [p.name for p in folder.iterdir()] == [] and not (tmp_path / "out").exists()
    _zip_of_sample(tmp_path, root / "master.zip")  # the URL now serves the archive: the next run just works
    assert main(args) == 0


def test_an_invalid_archive_cached_by_an_older_version_is_downloaded_again(served, tmp_path, capsys):
    from stepinst_data.source.fetch import fetch_archive

    root, base = served
    _zip_of_sample(tmp_path, root / "master.zip")
    url, cache = f"{base}/master.zip", tmp_path / "cache"
    checkout = fetch_archive(url, cache)
    archive = checkout.parents[1] / "archive"
    archive.write_text("<html>an error page an older stepinst kept</html>")
    shutil.rmtree(checkout.parents[1] / "extracted")
    assert fetch_archive(url, cache) == checkout
    assert archive.read_bytes() == (root / "master.zip").read_bytes()
