"""The build's threads: writer lanes that close their own files, task files hashed beside the
parse (and stopped when the load fails), the cyclic GC paused while a build runs."""

from __future__ import annotations

import gc
import pickle
import threading
import time

import pytest

from stepinst_data.bulk import gc_paused
from stepinst_data.card import release as release_module
from stepinst_data.card.release import release
from stepinst_data.dataset import export as export_module
from stepinst_data.dataset.builder import StepInstBuilder
from stepinst_data.dataset.inputs import load_build_inputs
from stepinst_data.dataset.plan import BuildPlan
from stepinst_data.sample import SAMPLE_NATINST, SAMPLE_RATINGS, SAMPLE_STEPS
from stepinst_data.source import digest as digest_module
from stepinst_data.source.natinst import NatInstError


def _lanes(work, finish, names=("fast", "slow"), threads=2):
    return export_module._Lanes(list(names), work, threads, report=lambda tasks: None, finish=finish)


def _write_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("stepinst-write-")]


def test_a_lane_closes_its_files_while_a_slower_lane_still_writes():
    events, lock = [], threading.Lock()

    def work(name, chunk):
        if name == "slow":
            time.sleep(0.05)
        with lock:
            events.append(("wrote", name, chunk))
        return 1

    def finish(name):
        with lock:
            events.append(("closed", name))

    _lanes(work, finish).feed(range(4))
    assert [e for e in events if e[0] == "closed"] == [("closed", "fast"), ("closed", "slow")]  # once each
    assert events.index(("closed", "fast")) < events.index(("wrote", "slow", 3))
    assert [e[2] for e in events if e[:2] == ("wrote", "slow")] == [0, 1, 2, 3]  # in table order
    assert _write_threads() == []


def test_an_error_while_closing_reaches_the_caller_and_no_thread_is_left():
    def finish(name):
        if name == "slow":
            raise OSError("disk full while writing the footer")

    with pytest.raises(OSError, match="disk full"):
        _lanes(lambda name, chunk: 1, finish).feed(range(3))
    assert _write_threads() == []


def test_a_failed_lane_or_a_failed_read_closes_nothing():
    closed = []

    def work(name, chunk):
        if name == "fast" and chunk == 1:
            raise ValueError("bad chunk")
        return 1

    with pytest.raises(ValueError, match="bad chunk"):
        _lanes(work, closed.append, names=("fast",)).feed(range(3))

    def chunks():
        yield 0
        raise NatInstError("task file vanished")

    with pytest.raises(NatInstError, match="vanished"):
        _lanes(lambda name, chunk: 1, closed.append).feed(chunks())
    assert closed == [] and _write_threads() == []


def test_the_manifest_entry_is_the_same_as_the_digests_hashed_afresh(tmp_path):
    built = release(BuildPlan(), SAMPLE_NATINST, tmp_path / "out", SAMPLE_STEPS, SAMPLE_RATINGS, cache_dir=tmp_path / "cache")
    afresh = digest_module.natinst_digest(SAMPLE_NATINST, False, tmp_path / "other-cache")
    assert built.manifest.inputs.natinst.digest == afresh.digest and built.manifest.inputs.natinst.files == afresh.files


def test_a_hashing_failure_stops_the_build_and_leaves_nothing(tmp_path, monkeypatch):
    def unreadable(path):
        raise PermissionError(f"{path}: permission denied")

    monkeypatch.setattr(digest_module, "sha256_file", unreadable)
    with pytest.raises(PermissionError, match="permission denied"):
        release(BuildPlan(), SAMPLE_NATINST, tmp_path / "out", SAMPLE_STEPS, SAMPLE_RATINGS, cache_dir=tmp_path / "cache", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]  # no --out, no temporary folder


def test_a_failed_load_stops_the_hashing_and_a_builder_hashes_nothing(tmp_path, monkeypatch):
    started, cancelled = [], []

    class Recording(digest_module.BackgroundDigest):
        def __init__(self, *args, **kwargs):
            started.append(args[0])
            super().__init__(*args, **kwargs)

        def cancel(self):
            cancelled.append(True)
            super().cancel()

    monkeypatch.setattr(release_module, "BackgroundDigest", Recording)
    monkeypatch.setattr(digest_module, "BackgroundDigest", Recording)
    with pytest.raises(ValueError, match="num-validation-tasks"):
        release(BuildPlan(validation_tasks=99), SAMPLE_NATINST, tmp_path / "out", SAMPLE_STEPS, cache_dir=tmp_path / "cache")
    assert len(started) == 1 and cancelled == [True]
    builder = StepInstBuilder(config_name="steps_ordered", natinst=str(SAMPLE_NATINST), steps=str(SAMPLE_STEPS),
                              cache_dir=str(tmp_path / "hf"))
    builder._load_inputs()
    assert len(started) == 1  # the datasets builder writes no manifest: nothing to hash


def test_a_failed_export_stops_the_hashing_too(tmp_path, monkeypatch):
    cancelled = []
    real_cancel = digest_module.BackgroundDigest.cancel
    monkeypatch.setattr(digest_module.BackgroundDigest, "cancel", lambda self: cancelled.append(True) or real_cancel(self))

    def failing(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(release_module, "write_configs", failing)
    with pytest.raises(OSError, match="disk full"):
        release(BuildPlan(), SAMPLE_NATINST, tmp_path / "out", SAMPLE_STEPS, cache_dir=tmp_path / "cache")
    assert cancelled == [True] and not (tmp_path / "out").exists()


def test_cancelled_hashing_stops_before_the_next_file_and_caches_nothing(tmp_path):
    stop = threading.Event()
    stop.set()
    paths = digest_module.read_files({"train": ["task9001_stepinst_sample_integer_addition"], "test": []})
    with pytest.raises(digest_module.DigestCancelled):
        digest_module.source_digest(SAMPLE_NATINST, paths, tmp_path, stop=stop)
    assert not (tmp_path / "digests").exists()


def test_loaded_inputs_pickle(tmp_path):
    inputs = load_build_inputs(SAMPLE_NATINST, SAMPLE_STEPS, SAMPLE_RATINGS, cache_dir=tmp_path)
    copy = pickle.loads(pickle.dumps(inputs))
    assert [t.name for t in copy.table.iter_tasks()] == [t.name for t in inputs.table.iter_tasks()]
    assert copy.plan == inputs.plan and copy.steps == inputs.steps


def test_gc_paused_restores_the_collector_after_errors_and_nesting():
    assert gc.isenabled()
    with pytest.raises(RuntimeError):
        with gc_paused():
            with gc_paused():
                assert not gc.isenabled()
            assert not gc.isenabled()  # the inner block does not re-enable what the outer one paused
            raise RuntimeError("boom")
    assert gc.isenabled()
