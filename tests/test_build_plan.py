"""One build plan, checked before anything is read; one manifest module; caches that cannot go stale."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from release_helpers import fresh_copy
from stepinst_data import resources
from stepinst_data.card.release import release
from stepinst_data.cli import main
from stepinst_data.dataset.configs import PRESETS
from stepinst_data.dataset.manifest import MANIFEST, read_manifest
from stepinst_data.dataset.plan import BuildPlan
from stepinst_data.sample import SAMPLE_NATINST, SAMPLE_STEPS
from stepinst_data.source.digest import sha256_file
from stepinst_data.source.table import load_task_table, worker_processes

PACKAGE = Path(__file__).resolve().parent.parent / "stepinst_data"


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- every parameter refused before a file is read or cached --------------------------------------


@pytest.mark.parametrize("flag", ["--max-num-instances-per-task", "--max-num-instances-per-eval-task"])
@pytest.mark.parametrize("value", ["0", "-5"])
def test_a_limit_below_one_is_refused_up_front_naming_the_flag(flag, value, sample_copy, tmp_path, capsys):
    before = _tree(sample_copy)
    cache, out = tmp_path / "cache", tmp_path / "out"
    code = main(["build", "--natinst", str(sample_copy), "--out", str(out), "--cache-dir", str(cache), flag, value])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(err) == 1 and err[0].startswith(f"error: {flag} {value} ") and "give a whole number >= 1" in err[0]
    assert not out.exists() and not cache.exists()  # nothing read, parsed or cached
    assert _tree(sample_copy) == before


@pytest.mark.parametrize("flag, value", [("--num-proc", "0"), ("--num-validation-tasks", "-1")])
def test_other_counts_are_refused_by_the_parser_naming_the_flag(flag, value, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["build", "--sample", "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache"), flag, value])
    assert info.value.code == 2
    assert f"argument {flag}: {value} is not allowed" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_configuration_is_refused_before_anything_is_read(tmp_path, capsys):
    code = main(["build", "--sample", "--configs", "definition,steps_sorted", "--out", str(tmp_path / "out"),
                 "--cache-dir", str(tmp_path / "cache")])
    assert code == 1 and "--configs: unknown config(s) ['steps_sorted']" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where", ["natinst", "inside natinst", "contains natinst", "steps"])
def test_an_out_that_is_an_input_is_refused_before_anything_is_read_or_cached(where, tmp_path, capsys):
    natinst = tmp_path / "corpus" / "natinst"
    shutil.copytree(SAMPLE_NATINST, natinst)
    steps = tmp_path / "steps.jsonl"
    shutil.copy(SAMPLE_STEPS, steps)
    out = {"natinst": natinst, "inside natinst": natinst / "built", "contains natinst": tmp_path / "corpus", "steps": steps}[where]
    before, cache = _tree(tmp_path), tmp_path / "cache"
    code = main(["build", "--natinst", str(natinst), "--steps", str(steps), "--out", str(out), "--cache-dir", str(cache)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and err[0].startswith(f"error: --out {out} ")
    assert "a build replaces --out whole" in err[0]
    assert _tree(tmp_path) == before and not cache.exists()  # not parsed, not cached


def test_num_proc_is_capped_at_the_work_and_the_cores_and_says_so(tmp_path, caplog):
    caplog.set_level("INFO")
    table = load_task_table(SAMPLE_NATINST, num_proc=1000, cache_dir=tmp_path)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    used = min(len(table.infos), cores)
    assert f"--num-proc 1000: parsing with {used} process(es) ({len(table.infos)} task file(s) to parse, {cores} core(s))" in caplog.text
    assert worker_processes(1000, 3) == min(3, cores) and worker_processes(1, 12) == 1


# --- build --like, verify and the manifest -------------------------------------------------------


def test_build_like_carries_the_recorded_repo(tmp_path, capsys):
    first, cache = tmp_path / "first", tmp_path / "cache"
    assert main(["build", "--sample", "--configs", "definition", "--repo", "my-org/mine", "--out", str(first),
                 "--cache-dir", str(cache), "--no-progress"]) == 0
    again = tmp_path / "again"
    assert main(["build", "--like", str(first), "--sample", "--out", str(again), "--cache-dir", str(cache), "--no-progress"]) == 0
    assert _tree(again) == _tree(first)  # card included: it names my-org/mine again
    assert read_manifest(again).plan.repo == "my-org/mine" and "datasets/my-org/mine" in (again / "README.md").read_text()
    other = tmp_path / "other"
    assert main(["build", "--like", str(first), "--sample", "--repo", "their-org/x", "--out", str(other),
                 "--cache-dir", str(cache), "--no-progress"]) == 0
    assert "datasets/their-org/x" in (other / "README.md").read_text() and read_manifest(other).plan.repo == "their-org/x"


def test_raised_steps_limits_are_recorded_and_replayed_by_like(tmp_path, capsys):
    from stepinst_data.stores.steps import StepsLimits

    first, cache = tmp_path / "first", tmp_path / "cache"
    assert main(["build", "--sample", "--configs", "steps_ordered", "--max-num-steps-per-task", "40", "--out", str(first),
                 "--cache-dir", str(cache), "--no-progress"]) == 0
    assert read_manifest(first).plan.steps_limits == StepsLimits(40, 4000)
    again = tmp_path / "again"
    assert main(["build", "--like", str(first), "--sample", "--out", str(again), "--cache-dir", str(cache), "--no-progress"]) == 0
    assert read_manifest(again).plan.steps_limits == StepsLimits(40, 4000) and _tree(again) == _tree(first)
    capsys.readouterr()
    assert main(["build", "--like", str(first), "--sample", "--max-chars-per-step", "9000", "--out", str(tmp_path / "x"),
                 "--cache-dir", str(cache), "--no-progress"]) == 1
    assert "--max-chars-per-step" in capsys.readouterr().err and not (tmp_path / "x").exists()


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_verify_rebuilds_under_the_cache_and_cleans_what_killed_runs_left(sample_build, tmp_path, capsys, monkeypatch):
    cache, dead = tmp_path / "cache", _dead_pid()
    rebuilds = cache / "verify"
    for name in (f"rebuild-{dead}", f".rebuild-{dead}.tmp-{dead}"):
        (rebuilds / name / "data" / "definition").mkdir(parents=True)
        (rebuilds / name / "data" / "definition" / "train.parquet.part").write_bytes(b"PAR1")
    (rebuilds / f"rebuild-{dead}" / MANIFEST).write_text("{}")
    kept = rebuilds / f"rebuild-{dead + 1}"  # not ours to delete: it holds a file a build never writes
    kept.mkdir()
    (kept / "notes.txt").write_text("mine")
    outs = []
    import stepinst_data.hub.verify as verify_module

    monkeypatch.setattr(verify_module, "release", lambda plan, natinst, out, *a, **kw: outs.append(Path(out)) or release(plan, natinst, out, *a, **kw))
    assert main(["verify", str(sample_build), "--sample", "--cache-dir", str(cache)]) == 0
    assert outs == [rebuilds / f"rebuild-{os.getpid()}"]
    assert sorted(p.name for p in rebuilds.iterdir()) == [kept.name]  # the killed runs' folders and this run's are gone
    assert (kept / "notes.txt").read_text() == "mine"


def test_a_broken_manifest_advises_a_build_that_build_accepts(sample_build, tmp_path, capsys):
    broken = fresh_copy(sample_build, tmp_path)
    (broken / MANIFEST).write_text("{not json", encoding="utf-8")
    assert main(["verify", str(broken), "--sample", "--cache-dir", str(tmp_path / "cache")]) == 1
    err = capsys.readouterr().err
    advice = re.search(r"`(stepinst build [^`]*)`", err).group(1)
    assert advice == "stepinst build --natinst ... --out NEW_FOLDER"
    argv = advice.split()[1:]
    argv[argv.index("--natinst"):argv.index("--natinst") + 2] = ["--sample"]
    argv[argv.index("NEW_FOLDER")] = str(tmp_path / "new")
    assert main(argv + ["--cache-dir", str(tmp_path / "cache"), "--no-progress"]) == 0


@pytest.mark.parametrize("format_, says", [(2, "older than"), (99, "newer than")])
def test_a_manifest_of_another_format_is_named_and_an_older_build_is_rebuilt_in_place(format_, says, sample_build, tmp_path, capsys):
    folder = fresh_copy(sample_build, tmp_path)
    manifest = json.loads((folder / MANIFEST).read_text())
    (folder / MANIFEST).write_text(json.dumps({**manifest, "manifest_format": format_}), encoding="utf-8")
    assert main(["verify", str(folder), "--sample", "--cache-dir", str(tmp_path / "cache")]) == 1
    err = capsys.readouterr().err
    assert f"has manifest format {format_}" in err and says in err
    if format_ < 3:  # the advice: rebuild it in place, which build accepts
        assert f"`stepinst build --natinst ... --out {folder}` replaces a previous build in place" in err
        assert main(["build", "--sample", "--out", str(folder), "--cache-dir", str(tmp_path / "cache"), "--no-progress"]) == 0
        assert read_manifest(folder).manifest_format == 3


def test_only_the_manifest_module_reads_or_writes_the_manifest():
    parsing = re.compile(r"json\.load|json\.dump\(|msgspec\.json\.(decode|encode|format)|read_manifest_text")
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if path.relative_to(PACKAGE).as_posix() == "dataset/manifest.py":
            assert "stepinst_build.json" in text and parsing.search(text)
            continue
        opens_it = re.search(r'/ (MANIFEST|"stepinst_build\.json")', text)  # a path to the manifest, not prose naming it
        if opens_it and parsing.search(text):
            offenders.append(path.relative_to(PACKAGE).as_posix())
    assert offenders == []


def test_no_command_imports_another():
    commands = {p.stem for p in (PACKAGE / "commands").glob("*.py")} - {"__init__", "options"}
    for path in (PACKAGE / "commands").glob("*.py"):
        imported = set(re.findall(r"from \.(\w+) import|from \.\.commands\.(\w+) import", path.read_text()))
        names = {name for pair in imported for name in pair if name}
        assert not (names & commands) or (path.stem, names & commands) == ("rate", {"rate_judge"}), (path.name, names & commands)


# --- caches that cannot go stale ----------------------------------------------------------------


def _first_definitions(package_root: Path, cache: Path) -> list[str]:
    code = ("import json, sys; from stepinst_data.source.table import load_task_table; "
            f"print(json.dumps([t.definition for t in load_task_table(__import__('pathlib').Path({str(SAMPLE_NATINST)!r}), "
            f"cache_dir={str(cache)!r}).tasks]))")
    env = {**os.environ, "PYTHONPATH": str(package_root)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, cwd=package_root)
    return json.loads(done.stdout)


def test_an_edit_to_the_readers_code_gives_new_rows_from_the_same_cache(tmp_path):
    copy = tmp_path / "pkg"
    shutil.copytree(PACKAGE, copy / "stepinst_data", ignore=shutil.ignore_patterns("__pycache__", "natinst", "*.jsonl"))
    cache = tmp_path / "cache"
    before = _first_definitions(copy, cache)
    reader = copy / "stepinst_data" / "source" / "natinst.py"
    text = reader.read_text()
    assert text.count('definition=_as_list(get("Definition"))[0],') == 1  # the one Task constructor
    reader.write_text(text.replace('definition=_as_list(get("Definition"))[0],', 'definition=_as_list(get("Definition"))[0].upper(),'))
    after = _first_definitions(copy, cache)
    assert after == [d.upper() for d in before] and after != before
    assert len(list((cache / "tables").glob("*.jsonl"))) == 2  # a new table beside the old one, never the old rows


def test_a_same_size_task_file_edit_with_its_mtime_restored_gives_the_new_text_and_hash(sample_copy, tmp_path):
    plan, cache = BuildPlan.of([PRESETS["definition"]]), tmp_path / "cache"
    first = release(plan, sample_copy, tmp_path / "one", cache_dir=cache)
    name = "task9002_stepinst_sample_list_maximum"
    path = sample_copy / "tasks" / f"{name}.json"
    st, raw = path.stat(), path.read_bytes()
    data = json.loads(raw)
    old = data["Definition"][0]
    new = old.replace("a", "b", 1)
    assert new != old and len(new.encode()) == len(old.encode())
    edited = raw.replace(json.dumps(old)[1:-1].encode(), json.dumps(new)[1:-1].encode(), 1)
    assert len(edited) == len(raw) and edited != raw
    path.write_bytes(edited)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # size and mtime as before the edit
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    second = release(plan, sample_copy, tmp_path / "two", cache_dir=cache)
    recorded = second.manifest.inputs.natinst.files[f"tasks/{name}.json"]
    assert recorded == sha256_file(path) != first.manifest.inputs.natinst.files[f"tasks/{name}.json"]
    rows = pq.read_table(tmp_path / "two" / second.written[0].files["train"]).to_pylist()
    assert {r["definition"] for r in rows if r["task_name"] == name} == {new}


# --- the card template of a --user install -------------------------------------------------------


def test_the_card_template_is_found_in_a_user_install(tmp_path, monkeypatch):
    user_base = tmp_path / "userbase"
    shared = user_base / "share" / "stepinst" / "dataset_card"
    shared.mkdir(parents=True)
    (shared / "template.md.j2").write_text("{{ pretty_name }}")
    monkeypatch.setattr(resources, "__file__", str(tmp_path / "site-packages" / "stepinst_data" / "resources.py"))
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "system"))
    monkeypatch.setattr(resources.site, "getuserbase", lambda: str(user_base))
    monkeypatch.setattr(sysconfig, "get_scheme_names", lambda: ())
    resources.card_dir.cache_clear()
    try:
        assert resources.card_template() == shared / "template.md.j2"
    finally:
        resources.card_dir.cache_clear()
