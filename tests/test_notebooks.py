"""The notebooks run top to bottom on the embedded sample, as a user runs them (nbclient, a real kernel).

Each notebook reads its parameters from ``STEPINST_*`` environment variables (the kernel inherits
this process's environment): the API notebook talks to the local OpenAI-compatible server, the
training notebook fine-tunes a tiny model built from a config. Outputs go to a temporary WORK.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from fake_openai import FakeOpenAI
from recipes_helpers import build_sample, sample_texts, tiny_causal_lm, train_tokenizer

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
ALL = sorted(NOTEBOOKS.glob("*.ipynb"))


@pytest.fixture
def work(tmp_path, monkeypatch):
    monkeypatch.setenv("STEPINST_WORK", str(tmp_path / "work"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    for name in ("STEPINST_DATASET", "STEPINST_NATINST", "STEPINST_MODEL", "OPENAI_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "work"


def execute(name: str) -> nbformat.NotebookNode:
    """Run notebooks/<name> from its own folder, as `jupyter lab notebooks/` does; raise on any error."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    return nb


def text_of(nb: nbformat.NotebookNode) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", "") or out.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def images_in(nb: nbformat.NotebookNode) -> int:
    return sum("image/png" in out.get("data", {}) for cell in nb.cells for out in cell.get("outputs", []))


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_committed_notebooks_have_no_outputs_and_a_parameters_cell(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), f"{path.name}: clear the outputs"
    assert "parameters" in code[0].metadata.get("tags", []), f"{path.name}: the first code cell holds the parameters"


def test_the_three_notebooks_exist():
    assert [p.name for p in ALL] == ["01_explore.ipynb", "02_generate_steps.ipynb", "03_train_evaluate.ipynb"]


@pytest.mark.slow
def test_explore_notebook(work):
    nb = execute("01_explore.ipynb")
    out = text_of(nb)
    assert "'definition', 'definition_pos', 'steps_ordered'" in out
    for name in ("definition", "steps_ordered", "steps_shuffled"):
        assert f"======== {name}   step_order=" in out
    assert "Steps:" in out  # the steps block of the steps configurations
    assert "36 ratings of 12 tasks by 3 annotators" in out
    assert "steps_ordered_hq trains on 6 of 8 train tasks" in out
    assert images_in(nb) == 2  # the task plots and the score distribution


@pytest.mark.slow
def test_generate_steps_notebook_against_a_local_endpoint(work, monkeypatch):
    with FakeOpenAI() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        nb = execute("02_generate_steps.ipynb")
        chats = server.chat_requests()

    from stepinst_data.stores.steps import read_steps_store

    records = read_steps_store(work / "steps.jsonl")
    assert len(records) == 12 and all(r.model == "gpt-4o-mini" and len(r.steps) >= 2 for r in records.values())
    assert len(chats) == 12  # one request per task; the rerun in the notebook sent none
    out = text_of(nb)
    assert "12 tasks in steps.jsonl" in out and "Steps:" in out
    assert (work / "stepinst-new-steps" / "README.md").is_file()


@pytest.mark.slow
def test_train_evaluate_notebook_with_a_tiny_model(work, monkeypatch, tmp_path):
    dataset = build_sample(tmp_path / "assets" / "stepinst")
    tokenizer = train_tokenizer(sample_texts(dataset, tmp_path / "assets" / "hf"), tmp_path / "assets" / "tok")
    model = tiny_causal_lm(tokenizer, tmp_path / "assets" / "tiny-llama")
    monkeypatch.setenv("STEPINST_MODEL", str(model))
    monkeypatch.setenv("STEPINST_MAX_STEPS", "4")
    monkeypatch.setenv("STEPINST_EVAL_LIMIT", "16")
    monkeypatch.setenv("STEPINST_MAX_NEW_TOKENS", "6")
    monkeypatch.setenv(
        "STEPINST_SFT_ARGS",
        "--max_length 512 --per_device_train_batch_size 4 --gradient_accumulation_steps 1 --max_train_samples 16"
        " --learning_rate 1e-2 --lr_scheduler_type constant --warmup_steps 0",
    )
    nb = execute("03_train_evaluate.ipynb")

    table = (work / "report" / "table.md").read_text()
    assert "| model | definition | steps_ordered |" in table and "| tiny-llama |" in table
    for config in ("definition", "steps_ordered"):
        metrics = json.loads((work / "eval" / config / "metrics.json").read_text())
        assert 0 <= metrics["rougeL_default_track"] <= 100
        predictions = (work / "eval" / config / "predictions.jsonl").read_text().splitlines()
        assert len(predictions) == 16
    out = text_of(nb)
    assert "definition: loss " in out and "steps_ordered: exact match " in out
    assert images_in(nb) == 2  # the loss curves and the comparison chart
