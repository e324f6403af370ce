"""``stepinst verify`` and ``build --like``: a release is proven to come from its inputs, or each difference is named."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fake_hub import FakeHub
from release_helpers import build_sample, fresh_copy, subprocess_env
from stepinst_data import __version__
from stepinst_data.cli import main
from stepinst_data.card.release import release
from stepinst_data.dataset.manifest import MANIFEST
from stepinst_data.hub.push import push_folder
from stepinst_data.hub.verify import open_release, verify_release
from stepinst_data.sample import SAMPLE_NATINST, SAMPLE_RATINGS, SAMPLE_STEPS
from stepinst_data.source import digest as digest_module
from test_cli import archive_server  # noqa: F401

TOKEN = "test-token"
REPO = "my-org/stepinst"
TASK = "task9002_stepinst_sample_list_maximum"


def _verify(folder, capsys, natinst=SAMPLE_NATINST, steps=SAMPLE_STEPS, ratings=SAMPLE_RATINGS) -> tuple[int, list[str], str]:
    """Exit status, stdout lines (one per difference) and stderr of `stepinst verify`."""
    args = ["verify", str(folder), "--natinst", str(natinst), "--steps", str(steps)]
    code = main(args + (["--ratings", str(ratings)] if ratings else []))
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def _manifest(folder: Path) -> dict:
    return json.loads((folder / MANIFEST).read_text(encoding="utf-8"))


def _edit_manifest(folder: Path, edit) -> None:
    manifest = _manifest(folder)
    edit(manifest)
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")


def _steps_copy(tmp_path: Path, edit) -> Path:
    records = [json.loads(line) for line in SAMPLE_STEPS.read_text(encoding="utf-8").splitlines() if line.strip()]
    extra = edit(records) or []
    path = tmp_path / "steps.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records + extra), encoding="utf-8")
    return path


def _data_files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- the manifest and the card --------------------------------------------------------------------


def test_manifest_records_every_input_parameter_and_version(sample_build):
    manifest = _manifest(sample_build)
    natinst, steps, ratings = (manifest["inputs"][k] for k in ("natinst", "steps", "ratings"))
    assert natinst["source"] == "folder" and natinst["num_files"] == len(natinst["files"]) == 14  # 12 tasks + 2 split lists
    assert "splits/default/train_tasks.txt" in natinst["files"] and f"tasks/{TASK}.json" in natinst["files"]
    assert steps["sha256"] == digest_module.sha256_file(SAMPLE_STEPS) and steps["records_used"] == 12
    assert steps["models"] == {"hand-written": 12} and steps["prompt_versions"] == {"sample-v1": 12}
    assert ratings["sha256"] == digest_module.sha256_file(SAMPLE_RATINGS) and ratings["records"] == 36
    assert manifest["plan"]["sampling"] == {"max_num_instances_per_task": 100, "max_num_instances_per_eval_task": 100, "seed": 42}
    assert [c["name"] for c in manifest["plan"]["configs"]][:2] == ["definition", "definition_pos"]
    assert set(manifest["versions"]) == {"stepinst", "datasets", "pyarrow"}
    for entry in manifest["configs"].values():
        for split, path in entry["files"].items():
            assert digest_module.sha256_file(sample_build / path) == entry["sha256"][split]
    assert str(SAMPLE_NATINST.parent) not in (sample_build / MANIFEST).read_text()  # no local path is published
    card = (sample_build / "README.md").read_text(encoding="utf-8")
    assert "## Provenance" in card and f"sha256 `{steps['sha256'][:16]}…`" in card
    assert f"12 task files and 2 split lists, digest `{natinst['digest'][:16]}…`" in card


def test_a_rebuild_hashes_no_unchanged_source_file_again(tmp_path, monkeypatch):
    calls = []
    real = digest_module.sha256_file
    monkeypatch.setattr(digest_module, "sha256_file", lambda path: calls.append(path) or real(path))
    paths = digest_module.read_files({"train": [TASK], "test": []})
    first = digest_module.source_digest(SAMPLE_NATINST, paths, tmp_path)
    second = digest_module.source_digest(SAMPLE_NATINST, paths, tmp_path)
    fresh = digest_module.source_digest(SAMPLE_NATINST, paths, tmp_path, refresh=True)
    assert first.files == second.files == fresh.files and len(first.files) == 3  # 2 split lists + 1 task
    assert len(calls) == 6  # 3 on the first call, none on the second, 3 when asked to refresh


# --- verify a folder ------------------------------------------------------------------------------


def test_build_then_verify_passes(sample_build, capsys):
    code, lines, _ = _verify(sample_build, capsys)
    assert code == 0
    assert lines == [f"verified {sample_build}: the inputs match its manifest and the rebuild reproduces its 20 data files byte for byte"]


def test_a_changed_steps_record_is_named_and_nothing_else(sample_build, tmp_path, capsys):
    def edit(records):
        next(r for r in records if r["task_name"] == TASK)["steps"][0] += " (edited)"

    code, lines, err = _verify(sample_build, capsys, steps=_steps_copy(tmp_path, edit))
    assert code == 1
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"steps store {tmp_path / 'steps.jsonl'}: sha256 ") and lines[0].endswith("1 record(s) the build used differ")
    assert lines[1].startswith(f"steps store {tmp_path / 'steps.jsonl'}: record of task {TASK} differs: ")
    assert "rebuild skipped: the inputs differ" in err


def test_steps_appended_for_tasks_outside_the_build_still_verify(sample_build, tmp_path, capsys):
    def edit(records):
        return [dict(records[0], task_name="task9999_not_in_this_build")]

    code, lines, err = _verify(sample_build, capsys, steps=_steps_copy(tmp_path, edit))
    assert code == 0, lines
    assert "but the records of the build's 12 tasks are unchanged" in err


def test_a_changed_task_file_is_named(sample_build, sample_copy, capsys):
    path = sample_copy / "tasks" / f"{TASK}.json"
    path.write_text(path.read_text(encoding="utf-8").replace('"Definition"', '"Definition" ', 1), encoding="utf-8")
    code, lines, _ = _verify(sample_build, capsys, natinst=sample_copy)
    assert code == 1
    assert len(lines) == 2, lines
    assert "over 14 files now" in lines[0]
    assert lines[1].startswith(f"SUP-NATINST --natinst {sample_copy}: file tasks/{TASK}.json differs: sha256 ")


def test_a_missing_task_file_and_a_missing_store_are_named(sample_build, sample_copy, capsys):
    (sample_copy / "tasks" / f"{TASK}.json").unlink()
    code, lines, _ = _verify(sample_build, capsys, natinst=sample_copy, ratings=None)
    assert code == 1
    assert f"SUP-NATINST --natinst {sample_copy}: file tasks/{TASK}.json was read by the build" in lines[1]
    assert lines[1].endswith("and is missing now")
    assert lines[2].startswith("ratings store: the build used ratings.jsonl (sha256 ") and lines[2].endswith("pass it with --ratings")


def test_a_changed_parquet_byte_is_named(sample_build, tmp_path, capsys):
    folder = fresh_copy(sample_build, tmp_path)
    path = next((folder / "data" / "steps_reversed").glob("test-*.parquet"))
    data = bytearray(path.read_bytes())
    data[data.find(b"Definition: ", 1000) + 12] ^= 1  # one bit of one prompt
    path.write_bytes(bytes(data))
    relative = path.relative_to(folder).as_posix()
    code, lines, _ = _verify(folder, capsys)
    assert code == 1
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"steps_reversed test {relative}: changed after the build: sha256 ")
    assert f"its name says {path.stem.rpartition('-')[2]}…" in lines[0]


def test_a_changed_parameter_is_named(sample_build, tmp_path, capsys):
    folder = fresh_copy(sample_build, tmp_path)
    _edit_manifest(folder, lambda m: next(c for c in m["plan"]["configs"] if c["name"] == "definition_pos").update(num_pos_examples=1))
    code, lines, _ = _verify(folder, capsys)
    assert code == 1
    assert [line.split(" ")[:2] for line in lines] == [["definition_pos", "train"], ["definition_pos", "test"]]
    for line in lines:
        assert "differs from the rebuild" in line and "first differing row id task9" in line
        assert line.endswith("rebuilt with the recorded num_pos_examples=1 (preset: 2)")


def test_a_changed_recorded_seed_is_named_and_a_per_config_seed_is_refused(sample_build, tmp_path, capsys):
    folder = fresh_copy(sample_build, tmp_path)
    _edit_manifest(folder, lambda m: m["plan"]["sampling"].update(seed=7))
    code, lines, _ = _verify(folder, capsys)
    assert code == 1 and any(line.startswith("steps_shuffled test ") for line in lines)
    assert all(line.endswith("rebuilt with the recorded seed=7 (default: 42)") for line in lines), lines
    folder = fresh_copy(sample_build, tmp_path / "per-config")
    _edit_manifest(folder, lambda m: next(c for c in m["plan"]["configs"] if c["name"] == "steps_shuffled").update(seed=7))
    code, lines, err = _verify(folder, capsys)
    assert code == 1 and lines == []
    assert "configuration 'steps_shuffled': unknown parameter(s) ['seed']" in err


def test_a_folder_without_manifest_was_not_built_by_stepinst(tmp_path, capsys):
    (tmp_path / "mine" / "data").mkdir(parents=True)
    (tmp_path / "mine" / "data" / "train.parquet").write_bytes(b"PAR1")
    code, lines, err = _verify(tmp_path / "mine", capsys)
    assert code == 1 and lines == []
    assert f"{tmp_path / 'mine'}: no {MANIFEST}; this folder was not built by `stepinst build`" in err


@pytest.mark.parametrize("edit, message", [
    (lambda m: m.update(manifest_format=4, stepinst_version="99.0.0"),
     f"has manifest format 4 (stepinst 99.0.0), newer than this stepinst {__version__} reads (3); upgrade stepinst"),
    (lambda m: [m.pop("inputs"), m.pop("plan"), m.pop("manifest_format")],
     f"has manifest format 1 (stepinst {__version__}), older than this stepinst {__version__} reads (3); rebuild it"),
])
def test_a_manifest_this_stepinst_cannot_verify_names_both_versions(sample_build, tmp_path, capsys, edit, message):
    folder = fresh_copy(sample_build, tmp_path)
    _edit_manifest(folder, edit)
    code, lines, err = _verify(folder, capsys)
    assert code == 1 and lines == []
    assert message in err


def test_an_archive_url_build_verifies_from_the_url_or_the_extracted_folder(archive_server, tmp_path, capsys):
    url, served = archive_server
    args = ["--steps", str(SAMPLE_STEPS), "--cache-dir", str(tmp_path / "cache")]
    assert main(["build", "--natinst", url, *args, "--out", str(tmp_path / "out")]) == 0
    natinst = _manifest(tmp_path / "out")["inputs"]["natinst"]
    assert natinst["source"] == "archive" and natinst["url"] == url
    assert natinst["archive_sha256"] == digest_module.sha256_file(served / "master.zip")
    capsys.readouterr()
    assert main(["verify", str(tmp_path / "out"), "--natinst", url, *args]) == 0
    # The same files in a checkout folder: the content identifies the source, not where it came from.
    assert main(["verify", str(tmp_path / "out"), "--natinst", str(SAMPLE_NATINST), *args]) == 0
    assert "reproduces its 14 data files byte for byte" in capsys.readouterr().out


# --- verify a Hub repo ----------------------------------------------------------------------------


@pytest.fixture
def pushed(sample_build, hub_env, monkeypatch):
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hub_env / "hf_home" / "hub"))  # read at import, not from HF_HOME
    with FakeHub(tokens={TOKEN}) as hub:
        push_folder(sample_build, REPO, token=TOKEN, endpoint=hub.url)
        hub.downloads.clear()
        yield hub


def test_verify_a_hub_repo_downloads_only_the_manifest_and_data_files(sample_build, pushed):
    report = verify_release(REPO, str(SAMPLE_NATINST), str(SAMPLE_STEPS), str(SAMPLE_RATINGS), endpoint=pushed.url, token=TOKEN)
    assert report.ok, report.problems
    assert report.files_compared == 20
    listed = {p for entry in _manifest(sample_build)["configs"].values() for p in entry["files"].values()}
    assert {path for _, path in pushed.downloads} == {MANIFEST, "croissant.json"} | listed  # never README.md or .gitattributes
    # Two configurations share a test file's bytes: the client fetches that blob once.
    assert {path for method, path in pushed.downloads if method == "GET"} <= {MANIFEST, "croissant.json"} | listed


def test_build_like_a_hub_repo_reads_only_its_manifest(sample_build, pushed, tmp_path):
    out = tmp_path / "like"
    like = open_release(REPO, endpoint=pushed.url, token=TOKEN, manifest_only=True)
    release(like.manifest.plan, SAMPLE_NATINST, out, SAMPLE_STEPS, SAMPLE_RATINGS)
    assert _data_files(out) == _data_files(sample_build)
    assert {path for _, path in pushed.downloads} == {MANIFEST}


def test_verify_cli_on_a_hub_repo_names_a_data_file_the_build_did_not_write(sample_build, pushed, tmp_path):
    extra = tmp_path / "extra"
    shutil.copytree(sample_build, extra)
    stray = next((extra / "data" / "definition").glob("train-*.parquet"))
    shutil.copy(stray, stray.with_name("train-0000000000000000.parquet"))
    from huggingface_hub import HfApi

    HfApi(endpoint=pushed.url, token=TOKEN).upload_file(
        path_or_fileobj=str(stray), path_in_repo="data/definition/train-0000000000000000.parquet", repo_id=REPO, repo_type="dataset"
    )
    env = subprocess_env(tmp_path, HF_ENDPOINT=pushed.url, HF_TOKEN=TOKEN, STEPINST_CACHE=str(tmp_path / "cache"))
    result = subprocess.run(
        [sys.executable, "-m", "stepinst_data.cli", "verify", REPO, "--natinst", str(SAMPLE_NATINST),
         "--steps", str(SAMPLE_STEPS), "--ratings", str(SAMPLE_RATINGS)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("data/definition/train-0000000000000000.parquet: in datasets/my-org/stepinst@")
    assert lines[0].endswith(f"but not in its {MANIFEST} (not written by this build)")


# --- build --like ---------------------------------------------------------------------------------


def test_build_like_reproduces_byte_identical_files(tmp_path, capsys):
    params = ["--configs", "definition,steps_shuffled,ratings", "--seed", "7", "--num-validation-tasks", "1",
              "--max-num-instances-per-task", "10"]
    original = build_sample(tmp_path / "original", tmp_path / "cache", *params)
    inputs = ["--natinst", str(SAMPLE_NATINST), "--steps", str(SAMPLE_STEPS), "--ratings", str(SAMPLE_RATINGS)]
    assert main(["build", "--like", str(original), *inputs, "--out", str(tmp_path / "again"), "--cache-dir", str(tmp_path / "cache2")]) == 0
    assert _data_files(tmp_path / "again") == _data_files(original)  # data, card and manifest, byte for byte
    assert list(_manifest(original)["configs"]) == ["definition", "steps_shuffled", "ratings"]
    capsys.readouterr()

    assert main(["build", "--like", str(original), *inputs, "--seed", "8", "--out", str(tmp_path / "other")]) == 1
    assert f"--seed cannot be combined with --like: the parameters come from the manifest of {original}" in capsys.readouterr().err
    assert not (tmp_path / "other").exists()
