"""The `stepinst` command: build, validate, stats, and --natinst as an archive URL."""

from __future__ import annotations

import functools
import json
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
from datasets import load_dataset

from stepinst_data.cli import main
from stepinst_data.sample import SAMPLE_NATINST, SAMPLE_STEPS


def test_build_sample_then_stats(tmp_path, capsys, hf_cache):
    out = tmp_path / "stepinst"
    assert main(["build", "--sample", "--out", str(out), "--num-proc", "2"]) == 0
    printed = capsys.readouterr().out
    assert f"built {out}: 9 configs" in printed
    assert load_dataset(str(out), "steps_ordered", split="test", cache_dir=hf_cache).num_rows == 180
    assert main(["stats", str(out), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["steps_ordered"]["splits"]["train"] == {**stats["steps_ordered"]["splits"]["train"], "rows": 302, "tasks": 8}
    assert stats["steps_ordered"]["steps_per_task"]["max"] == 4


def test_build_selected_configs_with_custom_sampling(tmp_path, capsys, hf_cache):
    out = tmp_path / "small"
    args = ["build", "--sample", "--out", str(out), "--configs", "definition,steps_reversed",
            "--max-num-instances-per-task", "3", "--max-num-instances-per-eval-task", "2", "--num-validation-tasks", "1"]
    assert main(args) == 0
    ds = load_dataset(str(out), "steps_reversed", cache_dir=hf_cache)
    assert (ds["train"].num_rows, ds["validation"].num_rows, ds["test"].num_rows) == (7 * 3, 3, 4 * 2)


def test_unknown_config_and_foreign_out_are_clear_errors(tmp_path, capsys):
    assert main(["build", "--sample", "--out", str(tmp_path / "x"), "--configs", "steps_sideways"]) == 1
    assert "unknown config(s) ['steps_sideways']" in capsys.readouterr().err
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    assert main(["build", "--sample", "--out", str(tmp_path / "busy")]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert main(["build", "--out", str(tmp_path / "y")]) == 1
    assert "pass --natinst" in capsys.readouterr().err
    assert main(["build", "--sample", "--out", str(tmp_path / "z"), "--repo-id", "my org/stepinst"]) == 1
    assert "'my org/stepinst' is not a valid repo id" in capsys.readouterr().err
    assert not (tmp_path / "z").exists()


def test_validate_lists_every_problem(tmp_path, capsys):
    natinst = tmp_path / "natinst"
    shutil.copytree(SAMPLE_NATINST, natinst)
    (natinst / "tasks" / "task9002_stepinst_sample_list_maximum.json").write_text("{broken")
    (natinst / "tasks" / "task9104_stepinst_sample_element_symbols.json").unlink()
    steps = tmp_path / "steps.jsonl"
    lines = SAMPLE_STEPS.read_text().splitlines()
    steps.write_text("\n".join(lines[:3] + ["not json"] + lines[3:]) + "\n")
    assert main(["validate", "--natinst", str(natinst), "--steps", str(steps)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert any("task9002_stepinst_sample_list_maximum.json: not valid JSON" in line for line in out)
    assert any("task9104_stepinst_sample_element_symbols.json: listed in the test split but missing" in line for line in out)
    assert any("steps.jsonl:4: malformed JSON" in line for line in out)
    assert main(["validate", "--sample"]) == 0


@pytest.fixture
def archive_server(tmp_path):
    """A local HTTP server serving a zip of the embedded sample, laid out like GitHub's archive."""
    root = tmp_path / "served"
    shutil.copytree(SAMPLE_NATINST, tmp_path / "natural-instructions-master")
    shutil.make_archive(str(root / "master"), "zip", tmp_path, "natural-instructions-master")
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/master.zip", root
    server.shutdown()


def test_natinst_archive_url_is_downloaded_once_and_verified(archive_server, tmp_path, capsys, hf_cache):
    url, served = archive_server
    cache = tmp_path / "cache"
    out = tmp_path / "out"
    args = ["build", "--natinst", url, "--steps", str(SAMPLE_STEPS), "--out", str(out), "--cache-dir", str(cache)]
    assert main(args) == 0
    assert load_dataset(str(out), "steps_ordered", split="test", cache_dir=hf_cache).num_rows == 180
    (served / "master.zip").unlink()  # the second build must not need the network
    assert main([*args, "--overwrite"]) == 0
    archive = next(cache.glob("natinst/*/archive"))
    archive.write_bytes(archive.read_bytes()[:-10] + b"corrupted!")
    assert main([*args, "--overwrite"]) == 1
    assert "does not match the one recorded at download" in capsys.readouterr().err


def test_unreachable_archive_url_is_a_clear_error(tmp_path, capsys):
    assert main(["build", "--natinst", "http://127.0.0.1:9/none.zip", "--out", str(tmp_path / "o"),
                 "--cache-dir", str(tmp_path)]) == 1
    assert "could not download the SUP-NATINST archive from http://127.0.0.1:9/none.zip" in capsys.readouterr().err
