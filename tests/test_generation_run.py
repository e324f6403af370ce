"""End-to-end generation against the local OpenAI-compatible server, through the real client."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from fake_openai import FakeOpenAI
from generation_helpers import definition_for, write_natinst, write_synthetic_task
from stepinst_data.cli import main
from stepinst_data.stores.jsonl import store_lock
from stepinst_data.stores.steps import read_steps_store

KEY = "test-key-do-not-log"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _env(tmp_path, monkeypatch, tmp_path_factory):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("STEPINST_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "tiktoken"))


def generate(server, natinst, out, *extra):
    return main(["steps", "generate", "--natinst", str(natinst), "--model", "gpt-4o-mini", "--steps", str(out),
                 "--base-url", server.base_url, "--no-progress", "--backoff-base", "0.05", *extra])


def requested_tasks(server, names):
    return Counter(names[r.definition] for r in server.chat_requests())


def failures(out):
    path = Path(str(out) + ".failures.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_faults_retries_failures_and_resume(tmp_path, capsys):
    names = write_natinst(tmp_path / "ni", 16, 4)
    out = tmp_path / "steps.jsonl"
    hopeless = names[definition_for(3)]
    with FakeOpenAI(latency=0.01, api_key=KEY) as server:
        server.inject("429", times=2, retry_after=0.1)
        server.inject("500")
        server.inject("disconnect")
        server.inject("slow", delay=1.5)
        server.inject("refusal")
        server.inject("single_step")
        server.inject("paragraph", times=3, match=definition_for(3))  # 3 bad answers of 3 attempts
        assert generate(server, tmp_path / "ni", out, "--timeout", "0.5", "--max-attempts", "3") == 2
        report = json.loads(capsys.readouterr().out)
        records = read_steps_store(out)
        failed = failures(out)
        assert set(records) | {f["task_name"] for f in failed} == set(names.values())
        assert [f["task_name"] for f in failed] == [hopeless] and hopeless not in records
        assert "paragraph" in failed[0]["reason"] and failed[0]["attempts"] == 3 and failed[0]["raw"]
        assert len(out.read_text().splitlines()) == 19  # nothing written twice
        assert all(len(r.steps) >= 3 and r.usage["prompt_tokens"] > 0 for r in records.values())
        assert report["done"] == 19 and report["failed"] == 1
        # every counted request's prompt tokens were estimated exactly as the server billed them
        assert report["estimated_prompt_tokens"] == report["prompt_tokens"] > 0

        before = len(server.chat_requests())
        assert generate(server, tmp_path / "ni", out) == 0  # resume: only the failed task is requested
        resumed = server.chat_requests()[before:]
        assert [names[r.definition] for r in resumed] == [hopeless]
        assert json.loads(capsys.readouterr().out)["skipped_done"] == 19
    assert len(read_steps_store(out)) == 20
    for path in tmp_path.glob("steps.jsonl*"):
        if path.is_file():
            assert KEY not in path.read_text(), path


def test_estimate_matches_actual_usage(tmp_path, capsys):
    write_natinst(tmp_path / "ni", 6, 2)
    assert main(["steps", "estimate", "--natinst", str(tmp_path / "ni"), "--model", "gpt-4o-mini"]) == 0
    estimate = json.loads(capsys.readouterr().out)
    assert estimate["tasks_to_generate"] == 8 and estimate["cost_usd_batch_api"] <= estimate["cost_usd"] / 2 + 1e-4
    with FakeOpenAI() as server:
        assert generate(server, tmp_path / "ni", tmp_path / "s.jsonl", "--tasks", "test") == 0
        actual = json.loads(capsys.readouterr().out)
    assert actual["done"] == 2
    assert main(["steps", "estimate", "--natinst", str(tmp_path / "ni"), "--model", "gpt-4o-mini",
                 "--steps", str(tmp_path / "s.jsonl")]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["tasks_done"] == 2 and again["tasks_to_generate"] == 6
    assert again["completion_basis"] == "mean of 2 records"
    records = read_steps_store(tmp_path / "s.jsonl")
    prompts = sum(r.usage["prompt_tokens"] for r in records.values())
    assert prompts == estimate["prompt_tokens"] - again["prompt_tokens"]


def test_bad_inputs_fail_clearly(tmp_path, capsys, monkeypatch):
    write_natinst(tmp_path / "ni", 3)
    out = tmp_path / "steps.jsonl"
    with FakeOpenAI() as server:
        monkeypatch.delenv("OPENAI_API_KEY")
        assert generate(server, tmp_path / "ni", out) == 1
        assert "OPENAI_API_KEY is not set" in capsys.readouterr().err and server.requests == []
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        dead = server.base_url
    assert main(["steps", "generate", "--natinst", str(tmp_path / "ni"), "--model", "m", "--steps", str(out),
                 "--base-url", dead]) == 1
    assert f"cannot reach the model server at {dead}" in capsys.readouterr().err
    with FakeOpenAI() as server:
        lock = store_lock(out)
        lock.acquire()
        try:
            assert generate(server, tmp_path / "ni", out) == 1
            assert "locked by another running process" in capsys.readouterr().err
        finally:
            lock.release()
        assert server.chat_requests() == []
        assert generate(server, tmp_path / "ni", out) == 0
        capsys.readouterr()
        # another model on the same store: refused unless --allow-mixed
        assert main(["steps", "generate", "--natinst", str(tmp_path / "ni"), "--model", "gpt-4.1-mini", "--steps",
                     str(out), "--base-url", server.base_url, "--no-progress"]) == 1
        assert "--allow-mixed" in capsys.readouterr().err
        assert main(["steps", "generate", "--natinst", str(tmp_path / "ni"), "--model", "gpt-4.1-mini", "--steps",
                     str(out), "--base-url", server.base_url, "--no-progress", "--allow-mixed"]) == 0
    assert {r.model for r in read_steps_store(out).values()} == {"gpt-4.1-mini"}


def test_stale_definitions_regenerated_only_when_asked(tmp_path, capsys, caplog):
    names = write_natinst(tmp_path / "ni", 4)
    out = tmp_path / "steps.jsonl"
    with FakeOpenAI() as server:
        assert generate(server, tmp_path / "ni", out) == 0
        write_synthetic_task(tmp_path / "ni", 2, definition="A changed definition: reverse every word of the input.")
        n = len(server.chat_requests())
        assert generate(server, tmp_path / "ni", out) == 0
        assert len(server.chat_requests()) == n and "stale steps" in caplog.text
        assert generate(server, tmp_path / "ni", out, "--regenerate-stale") == 0
        assert [r.definition for r in server.chat_requests()[n:]] == ["A changed definition: reverse every word of the input."]
    from stepinst_data.source.natinst import definition_sha256

    record = read_steps_store(out)[names[definition_for(2)]]
    assert record.definition_sha256 == definition_sha256("A changed definition: reverse every word of the input.")


def test_torn_last_line_is_ignored_and_repaired(tmp_path, capsys):
    write_natinst(tmp_path / "ni", 5)
    out = tmp_path / "steps.jsonl"
    with FakeOpenAI() as server:
        assert generate(server, tmp_path / "ni", out, "--tasks", "train") == 0
        lines = out.read_text().splitlines(keepends=True)
        out.write_text("".join(lines[:3]) + lines[3][:40])  # a crash mid-write of the 4th record
        assert len(read_steps_store(out)) == 3
        n = len(server.chat_requests())
        assert generate(server, tmp_path / "ni", out) == 0
        assert len(server.chat_requests()) - n == 2
    assert len(read_steps_store(out)) == 5 and len(out.read_text().splitlines()) == 5


def test_batch_api_end_to_end(tmp_path, capsys):
    names = write_natinst(tmp_path / "ni", 6)
    out = tmp_path / "steps.jsonl"
    common = ["--natinst", str(tmp_path / "ni"), "--model", "gpt-4o-mini", "--steps", str(out)]
    with FakeOpenAI(batch_polls=3) as server:  # collect and status each poll once
        server.inject("batch_error", match=definition_for(1))
        server.inject("refusal", match=definition_for(4))
        args = [*common, "--base-url", server.base_url]
        assert main(["steps", "batch", "submit", *args]) == 0
        submitted = json.loads(capsys.readouterr().out)
        assert submitted["requests"] == 6 and submitted["estimated_prompt_tokens"] > 0
        assert main(["steps", "batch", "submit", *args]) == 1  # the first one is not collected yet
        assert "not collected yet" in capsys.readouterr().err
        assert main(["steps", "batch", "collect", *args]) == 1
        assert "collect it once it is completed" in capsys.readouterr().err
        assert main(["steps", "batch", "status", *args]) == 0
        assert json.loads(capsys.readouterr().out)["status"] == "in_progress"
        main(["steps", "batch", "status", *args])
        assert json.loads(capsys.readouterr().out)["status"] == "completed"
        assert main(["steps", "batch", "collect", *args]) == 2
        collected = json.loads(capsys.readouterr().out)
        assert collected["done"] == 4 and collected["failed"] == 2
        assert collected["prompt_tokens"] > 0
        lines = out.read_text()
        assert main(["steps", "batch", "collect", *args]) == 1  # collecting twice appends nothing
        assert "already collected" in capsys.readouterr().err and out.read_text() == lines
        assert {f["task_name"] for f in failures(out)} == {names[definition_for(1)], names[definition_for(4)]}
        n = len(server.chat_requests())
        assert generate(server, tmp_path / "ni", out) == 0  # failed batch items retried the normal way
        assert sorted(names[r.definition] for r in server.chat_requests()[n:]) == sorted(
            [names[definition_for(1)], names[definition_for(4)]])
    assert len(read_steps_store(out)) == 6
    state = json.loads(Path(str(out) + ".batch.json").read_text())
    assert state["collected_at"] and KEY not in json.dumps(state)


def test_forced_batch_submit_keeps_the_uncollected_batch_state(tmp_path, capsys):
    write_natinst(tmp_path / "ni", 3)
    out = tmp_path / "steps.jsonl"
    with FakeOpenAI() as server:
        args = ["--natinst", str(tmp_path / "ni"), "--model", "gpt-4o-mini", "--steps", str(out), "--base-url", server.base_url]
        assert main(["steps", "batch", "submit", *args]) == 0
        first = json.loads(Path(str(out) + ".batch.json").read_text())["batch_id"]
        assert main(["steps", "batch", "submit", *args, "--force"]) == 0
    kept = json.loads(Path(f"{out}.batch.json.{first}").read_text())  # its paid results stay collectable
    assert kept["batch_id"] == first and not kept.get("collected_at")
    assert json.loads(Path(str(out) + ".batch.json").read_text())["batch_id"] != first


@pytest.mark.slow
def test_kill_mid_run_and_resume(tmp_path):
    """SIGKILL the generator mid-run; the rerun requests exactly the tasks with no record."""
    names = write_natinst(tmp_path / "ni", 60)
    out = tmp_path / "steps.jsonl"
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    with FakeOpenAI(latency=0.15) as server:
        cmd = [sys.executable, "-m", "stepinst_data.cli", "steps", "generate", "--natinst", str(tmp_path / "ni"),
               "--model", "gpt-4o-mini", "--steps", str(out), "--base-url", server.base_url, "--no-progress",
               "--concurrency", "4"]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while time.time() < deadline and (not out.exists() or out.read_text().count("\n") < 12):
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        first = requested_tasks(server, names)
        recorded = set(read_steps_store(out))  # readable after the kill
        assert 12 <= len(recorded) < 60 and recorded <= set(first)
        in_flight = set(first) - recorded
        assert len(in_flight) <= 4 + 1  # at most the requests in flight (+ one answered, unwritten)
        n = len(server.chat_requests())
        assert subprocess.run(cmd, env=env, capture_output=True).returncode == 0
        second = Counter(names[r.definition] for r in server.chat_requests()[n:])
    assert set(second) == set(names.values()) - recorded  # in-flight tasks are requested again...
    assert not set(second) & recorded  # ...and not one finished task
    assert max(second.values()) == 1 and max(first.values()) == 1
    assert set(read_steps_store(out)) == set(names.values())


def test_tasks_file_selection(tmp_path, capsys):
    names = write_natinst(tmp_path / "ni", 5)
    listed = tmp_path / "tasks.txt"
    listed.write_text(f"{names[definition_for(1)]}\n{names[definition_for(3)]}\ntask_unknown\n")
    args = ["steps", "estimate", "--natinst", str(tmp_path / "ni"), "--model", "gpt-4o-mini", "--tasks", str(listed)]
    assert main(args) == 1
    assert "task_unknown" in capsys.readouterr().err
    assert main([*args, "--allow-missing-tasks"]) == 0
    assert json.loads(capsys.readouterr().out)["tasks_to_generate"] == 2


def test_rejected_key_stops_the_run(tmp_path, capsys):
    write_natinst(tmp_path / "ni", 3)
    with FakeOpenAI(api_key="another-key") as server:
        assert generate(server, tmp_path / "ni", tmp_path / "s.jsonl") == 1
    assert "rejected the API key (401)" in capsys.readouterr().err
    assert not read_steps_store(tmp_path / "s.jsonl") if (tmp_path / "s.jsonl").exists() else True
