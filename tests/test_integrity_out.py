"""Nothing a user owns is ever deleted: --out is never an input, foreign files are never replaced,
a hand-edited card needs --overwrite, and a killed build's leftovers are cleaned by the next one."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from integrity_helpers import snapshot
from stepinst_data.cli import main
from stepinst_data.sample import SAMPLE_NATINST, SAMPLE_RATINGS, SAMPLE_STEPS


def build(out: Path, *extra: str, natinst: Path = SAMPLE_NATINST, steps: Path = SAMPLE_STEPS,
          ratings: Path = SAMPLE_RATINGS) -> int:
    return main(["build", "--natinst", str(natinst), "--steps", str(steps), "--ratings", str(ratings),
                 "--out", str(out), "--configs", "definition,steps_ordered", *extra])


@pytest.fixture
def inputs(tmp_path) -> dict[str, Path]:
    """Writable copies of the sample's corpus and stores, so a wrong --out could (but must not) touch them."""
    natinst = tmp_path / "work" / "natinst"
    shutil.copytree(SAMPLE_NATINST, natinst)
    stores = tmp_path / "work" / "stores"
    stores.mkdir()
    shutil.copy(SAMPLE_STEPS, stores / "steps.jsonl")
    shutil.copy(SAMPLE_RATINGS, stores / "ratings.jsonl")
    return {"natinst": natinst, "steps": stores / "steps.jsonl", "ratings": stores / "ratings.jsonl"}


@pytest.mark.parametrize(
    "out, relation, label, target",
    [
        (lambda i: i["natinst"], "is", "SUP-NATINST corpus", "natinst"),
        (lambda i: i["natinst"] / "tasks", "is inside", "SUP-NATINST corpus", "natinst"),
        (lambda i: i["natinst"].parent, "contains", "SUP-NATINST corpus", "natinst"),
        (lambda i: i["steps"], "is", "steps store", "steps"),
        (lambda i: i["ratings"].parent, "contains", "steps store", "steps"),
    ],
)
def test_out_may_not_be_contain_or_sit_inside_an_input(inputs, capsys, out, relation, label, target):
    out = out(inputs)
    before = snapshot(inputs["natinst"].parent)
    args = ["--overwrite"]  # not even with --overwrite
    assert build(out, *args, natinst=inputs["natinst"], steps=inputs["steps"], ratings=inputs["ratings"]) == 1
    assert (f"error: --out {out} {relation} the {label} {inputs[target]}: "
            "a build replaces --out whole, so it would delete that input") in capsys.readouterr().err
    assert snapshot(inputs["natinst"].parent) == before
    assert not list(inputs["natinst"].parent.parent.glob(".*.tmp-*"))


def test_out_may_not_be_inside_or_contain_the_cache(tmp_path, capsys):
    cache = tmp_path / "cache"
    for out, relation in ((cache / "built", "is inside"), (tmp_path, "contains")):
        assert build(out, "--cache-dir", str(cache), "--overwrite") == 1
        assert f"error: --out {out} {relation} the cache folder {cache}:" in capsys.readouterr().err


def test_a_note_in_a_previous_build_is_never_deleted(tmp_path, capsys):
    """`echo hi > stepinst/notes.txt && make demo`: the demo refuses, naming the note; the note stays."""
    out = tmp_path / "stepinst"
    assert build(out) == 0
    assert build(out) == 0  # an unchanged previous build is simply rebuilt: no flag needed
    (out / "notes.txt").write_text("hi\n")
    before = snapshot(out)
    for extra in ([], ["--overwrite"]):
        assert build(out, *extra) == 1
        assert (f"error: --out {out} is a previous stepinst build that also holds 1 file(s) stepinst did not write "
                "(notes.txt); stepinst never deletes them, with or without --overwrite. Move them out of the folder, "
                "or choose another --out.") in capsys.readouterr().err
        assert snapshot(out) == before
    (out / "notes.txt").unlink()
    assert build(out) == 0


def test_a_folder_stepinst_never_built_is_never_replaced(tmp_path, capsys):
    out = tmp_path / "thesis"
    (out / "figures").mkdir(parents=True)
    (out / "figures" / "plot.png").write_bytes(b"\x89PNG")
    (out / "README.md").write_text("# my thesis\n")
    before = snapshot(out)
    assert build(out, "--overwrite") == 1
    assert (f"error: --out {out} is not a previous stepinst build (no readable stepinst_build.json) and holds "
            "README.md, figures/plot.png; stepinst never deletes files it did not write") in capsys.readouterr().err
    assert snapshot(out) == before


def test_a_data_file_the_manifest_does_not_list_is_foreign(tmp_path, capsys):
    out = tmp_path / "stepinst"
    assert build(out) == 0
    (out / "data" / "mine").mkdir()
    (out / "data" / "mine" / "extra.parquet").write_bytes(b"PAR1")
    before = snapshot(out)
    assert build(out, "--overwrite") == 1
    assert "(data/mine/extra.parquet); stepinst never deletes them" in capsys.readouterr().err
    assert snapshot(out) == before


def test_a_hand_edited_card_is_replaced_only_with_overwrite(tmp_path, capsys):
    out = tmp_path / "stepinst"
    assert build(out) == 0
    manifest = json.loads((out / "stepinst_build.json").read_text())
    assert len(manifest["card_sha256"]) == 64
    (out / "README.md").write_text((out / "README.md").read_text() + "\nMy own paragraph.\n")
    before = snapshot(out)
    assert build(out) == 1
    assert (f"error: --out {out}: README.md was edited since stepinst built it; pass --overwrite to replace it with "
            "the newly generated card (save your edits first), or choose another --out.") in capsys.readouterr().err
    assert snapshot(out) == before
    assert build(out, "--overwrite") == 0
    assert "My own paragraph." not in (out / "README.md").read_text()


def _dead_pid() -> int:
    """The pid of a process that has exited (what a killed build leaves in its folder names)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_the_next_build_removes_leftovers_of_killed_builds_and_nothing_else(tmp_path):
    out = tmp_path / "stepinst"
    dead = _dead_pid()
    stale_tmp = tmp_path / f".stepinst.tmp-{dead}"
    (stale_tmp / "data" / "definition").mkdir(parents=True)
    (stale_tmp / "data" / "definition" / "train.parquet.part").write_bytes(b"PAR1")
    stale_old = tmp_path / f".stepinst.old-{dead}"
    assert build(tmp_path / "first") == 0
    shutil.copytree(tmp_path / "first", stale_old)  # killed between the two renames of the swap
    kept = {
        tmp_path / f".stepinst.tmp-{_dead_pid()}": "notes.txt",  # holds a file a build never writes
        tmp_path / f".other.tmp-{dead}": "README.md",  # another --out's leftover
        tmp_path / ".stepinst.tmp-abc": "README.md",  # not stepinst's naming
    }
    kept[tmp_path / f".stepinst.tmp-{os.getppid()}"] = "README.md"  # a running process: maybe a build in progress
    for folder, name in kept.items():
        folder.mkdir()
        (folder / name).write_text("x")
    assert build(out) == 0
    assert not stale_tmp.exists() and not stale_old.exists()
    assert all((folder / name).read_text() == "x" for folder, name in kept.items())
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".stepinst.")) == sorted(
        p.name for p in kept if p.name.startswith(".stepinst."))
