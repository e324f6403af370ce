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
    assert f"built {out}: 10 configs" in printed
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
    assert main(["build", "--sample", "--out", str(tmp_path / "z"), "--repo", "my org/stepinst"]) == 1
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
    assert any("1 task(s) listed in splits/default/ have no file in tasks/: task9104_stepinst_sample_element_symbols. "
               "Restore them, or pass --allow-missing-tasks" in line for line in out)
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
                 "--cache-dir", str(tmp_path / "cache")]) == 1
    assert "could not download the SUP-NATINST archive from http://127.0.0.1:9/none.zip" in capsys.readouterr().err


def _parsers(parser, prog="stepinst"):
    """Every (sub)command parser of the CLI, depth first, with its full name."""
    import argparse

    yield prog, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{prog} {name}")


def test_every_option_has_help_and_shows_its_default():
    import argparse

    from stepinst_data.cli import make_parser
    from stepinst_data.commands.options import HelpFormatter

    checked = 0
    for prog, parser in _parsers(make_parser()):
        rendered = " ".join(parser.format_help().split())
        for action in parser._actions:
            if action.help == argparse.SUPPRESS or isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            assert action.help, f"{prog} {action.option_strings or action.dest}: no help text"
            required = action.required or any(g.required and action in g._group_actions for g in parser._mutually_exclusive_groups)
            if not action.option_strings or action.nargs == 0 or required:  # nothing to default
                continue
            shown = HelpFormatter(prog)._get_help_string(action)
            assert "(default: " in shown, f"{prog} {action.option_strings[0]}: its help does not show the default"
            if action.default is not None:
                assert f"(default: {action.default})" in rendered, f"{prog} {action.option_strings[0]}"
            checked += 1
    assert checked > 60  # every command was walked


def test_the_top_level_help_says_what_each_command_does(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for command, words in {"build": "dataset folder", "validate": "every problem", "stats": "prompt lengths",
                           "steps": "step-by-step instructions", "rate": "rating page", "push": "Hub dataset repo",
                           "score": "official SUP-NATINST metrics", "references": "references file"}.items():
        assert f"{command} " in text and words in text
    assert "stepinst_data" not in text and "module" not in text  # what it does for a user, not where its code lives


@pytest.mark.parametrize("command", [["build", "--sample"], ["steps", "generate", "--sample", "--model", "m", "--steps", "s"],
                                     ["rate", "judge", "--sample", "--model", "m", "--ratings", "r"]])
@pytest.mark.parametrize("value, reason", [("0", "0 is not allowed"), ("-3", "-3 is not allowed"), ("two", "'two' is not an integer")])
def test_num_proc_must_be_a_positive_integer(command, value, reason, capsys):
    with pytest.raises(SystemExit) as refused:
        main([*command, "--num-proc", value])
    assert refused.value.code == 2
    assert f"error: argument --num-proc: {reason}; give a whole number >= 1" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["build", "--sample", "--repo-id", "myorg/mine"],
    ["build", "--sample", "--validation-tasks", "1"],
    ["steps", "estimate", "--sample", "--model", "gpt-4o-mini", "--out", "steps.jsonl"],
    ["rate", "import", "sheet.csv", "--into", "ratings.jsonl"],
    ["rate", "report", "ratings.jsonl"],
    ["validate", "--sample", "--num-proc", "2"],
    ["rate", "judge", "--sample", "--model", "m", "--ratings", "j.jsonl", "--with-examples"],
])
def test_spellings_never_released_and_flags_that_did_nothing_are_refused(argv, tmp_path, capsys, monkeypatch):
    """Version 0.1.0 was never released: no deprecated spelling is kept, and a flag without effect is no flag."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments" in err or "the following arguments are required: --ratings" in err
    assert list(tmp_path.iterdir()) == []
