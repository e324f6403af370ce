"""Honest accounting: every request sent is counted, failed ones too; unknown prices say so."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from fake_openai import FakeOpenAI
from generation_helpers import write_natinst, write_synthetic_task
from stepinst_data.cli import main
from stepinst_data.generation.client import ClientConfig, make_async_client
from stepinst_data.generation.runner import Generator, failures_path_for, run_coroutine
from stepinst_data.generation.tokens import get_encoding
from stepinst_data.source.selection import load_tasks
from stepinst_data.dataset.inputs import load_build_inputs

KEY = "test-key"


@pytest.fixture(autouse=True)
def _env(monkeypatch, tmp_path_factory):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "tiktoken"))


def _run(server: FakeOpenAI, natinst: Path, store: Path, **config) -> dict:
    """One generation run through the real client; the summary `steps generate` prints."""
    tasks = load_tasks(str(natinst))
    config = ClientConfig("gpt-4o-mini", server.base_url, backoff_base=0.01, **config)
    generator = Generator(config, store, failures_path_for(store), "v1", False, get_encoding("o200k_base"),
                          progress=False)

    async def go():
        async with make_async_client(config) as client:
            return await generator.run(client, tasks)

    return run_coroutine(go()).to_dict()


def test_requests_that_failed_with_500_are_counted(tmp_path):
    write_natinst(tmp_path / "ni", 2)
    store = tmp_path / "steps.jsonl"
    with FakeOpenAI() as server:
        server.inject("500", times=100)
        summary = _run(server, tmp_path / "ni", store, max_retries=2)
        sent = len(server.chat_requests())
    assert sent == 6  # 2 tasks x (1 request + 2 retries)
    assert summary["requests"] == 6 and summary["failed_requests"] == 6
    assert summary["done"] == 0 and summary["failed"] == 2 and not store.exists()
    assert len(failures_path_for(store).read_text().splitlines()) == 2


def test_requests_that_timed_out_are_counted(tmp_path):
    write_natinst(tmp_path / "ni", 1)
    store = tmp_path / "steps.jsonl"
    with FakeOpenAI() as server:
        server.inject("slow", times=2, delay=1.0)  # the first two requests pass the 0.3 s timeout
        summary = _run(server, tmp_path / "ni", store, max_retries=3, timeout=0.3)
    assert summary["requests"] == 3 and summary["failed_requests"] == 2 and summary["done"] == 1
    record = json.loads(store.read_text())
    assert record["usage"]["requests"] == 3  # the task's usage counts its failed requests too


def test_estimate_says_unknown_where_it_warns_about_an_unknown_price(tmp_path, capsys, caplog):
    write_natinst(tmp_path / "ni", 2)
    with caplog.at_level(logging.WARNING):
        assert main(["steps", "estimate", "--natinst", str(tmp_path / "ni"), "--model", "my-local-model",
                     "--encoding", "o200k_base"]) == 0
    report = json.loads(capsys.readouterr().out)
    unknown = "unknown (no price for this model: pass --price-input and --price-output)"
    assert report["cost_usd"] == report["cost_usd_batch_api"] == unknown
    assert "null" not in json.dumps(report)
    assert f"no price for model my-local-model: costs show as {unknown!r}" in caplog.text
    assert "--price-input and --price-output" in caplog.text


def test_the_stale_steps_error_names_regenerate_stale(tmp_path):
    from stepinst_data.stores.steps import StepsRecord, append_records

    write_natinst(tmp_path / "ni", 2)
    tasks = load_tasks(str(tmp_path / "ni"))
    store = tmp_path / "steps.jsonl"
    append_records(store, [StepsRecord(t.name, ["a", "b"], "", "m", "v1", t.definition_sha256, "") for t in tasks])
    write_synthetic_task(tmp_path / "ni", 1, definition="A changed definition: reverse every word.")
    with pytest.raises(ValueError, match=r"stale steps for 1 task\(s\).*`stepinst steps generate .*--regenerate-stale`"):
        load_build_inputs(tmp_path / "ni", store).check_steps()


def test_validate_summarizes_a_partial_corpus_in_one_line(tmp_path, capsys):
    names = list(write_natinst(tmp_path / "ni", 12).values())
    for name in names[:9]:
        (tmp_path / "ni" / "tasks" / f"{name}.json").unlink()
    assert main(["validate", "--natinst", str(tmp_path / "ni")]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"{tmp_path / 'ni'}: 9 task(s) listed in splits/default/ have no file in tasks/: "
        f"{', '.join(names[:5])}, ... (and 4 more). Restore them, or pass --allow-missing-tasks to skip them."
    ]
    assert main(["validate", "--natinst", str(tmp_path / "ni"), "--allow-missing-tasks"]) == 0
    assert capsys.readouterr().out == "no problems found\n"
