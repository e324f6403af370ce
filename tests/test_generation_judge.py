"""The LLM judge against the local server: rubric header, scores, retries, resume."""

from __future__ import annotations

import argparse
import json

import pytest

from fake_openai import FakeOpenAI
from stepinst_data.commands import rate_judge
from stepinst_data.generation.judge import parse_judgement
from stepinst_data.stores.ratings import DEFAULT_RUBRIC, RatingsError, read_ratings_store
from stepinst_data.sample import SAMPLE_STEPS
from stepinst_data.stores.steps import read_steps_store


@pytest.fixture(autouse=True)
def _env(tmp_path, monkeypatch, tmp_path_factory):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("STEPINST_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "tiktoken"))


def run_judge(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    rate_judge.register(parser.add_subparsers(dest="rate_command"))
    args = parser.parse_args(["judge", *argv])
    return args.func(args)


def test_parse_judgement():
    good = parse_judgement('```json\n{"correctness": 5, "completeness": 4, "order": 5, "overall": 4, '
                           '"comment": "ok"}\n```', DEFAULT_RUBRIC, "t", "llm:m")
    assert good == {"task_name": "t", "annotator": "llm:m", "correctness": 5, "completeness": 4, "order": 5,
                    "overall": 4, "comment": "ok"}
    with pytest.raises(RatingsError, match="no JSON object"):
        parse_judgement("I think it is good.", DEFAULT_RUBRIC, "t", "llm:m")
    with pytest.raises(RatingsError, match="outside the scale"):
        parse_judgement('{"correctness": 9, "completeness": 4, "order": 5, "overall": 4}', DEFAULT_RUBRIC, "t", "a")


def test_judge_rates_sample_steps_and_resumes(tmp_path, capsys):
    ratings = tmp_path / "judge.jsonl"
    tasks = sorted(read_steps_store(SAMPLE_STEPS))
    with FakeOpenAI() as server:
        server.inject("paragraph", times=1)  # one answer without JSON: retried with the reason
        args = ["--sample", "--model", "gpt-4o-mini", "--ratings", str(ratings), "--base-url", server.base_url,
                "--backoff-base", "0.05"]
        assert run_judge(*args) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["done"] == len(tasks) and report["requests"] == len(tasks) + 1
        store = read_ratings_store(ratings)
        assert store.rubric == DEFAULT_RUBRIC
        assert sorted(r["task_name"] for r in store.records) == tasks
        assert {r["annotator"] for r in store.records} == {"llm:gpt-4o-mini"}
        assert all(3 <= r["overall"] <= 5 for r in store.records)
        assert json.loads(ratings.read_text().splitlines()[0])["rubric"]["name"] == DEFAULT_RUBRIC.name
        n = len(server.chat_requests())
        assert run_judge(*args) == 0  # resume: nothing left to rate
        assert len(server.chat_requests()) == n
        assert json.loads(capsys.readouterr().out)["already_rated"] == len(tasks)
    assert "test-key" not in ratings.read_text()
