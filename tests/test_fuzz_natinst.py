"""Property tests: generated SUP-NATINST corpora (task files and split lists, valid and broken)
through ``validate`` and ``build``, checked against the reference reader of ``fuzz_helpers``.

``validate`` must agree with the reference on whether a corpus is usable; ``build`` must either
write rows equal to the reference's (ids unique, texts identical) or exit 1 with one line naming
the file, leaving no ``--out`` and every input unchanged. Profiles: tests/conftest.py.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from fuzz_helpers import assert_one_error_naming, corpora, examples, ref_read_corpus, run_cli, snapshot


def _names_in(corpus) -> list[str]:
    """What a refusal may name: the folder (its task files and split lists are under it)."""
    return [str(corpus.root)]


@settings(max_examples=examples(60))
@given(st.data())
def test_validate_agrees_with_the_reference_reader(data):
    with tempfile.TemporaryDirectory() as tmp:
        corpus = data.draw(corpora(Path(tmp) / "natinst"))
        corpus.write()
        before = snapshot(corpus.root)
        ref = ref_read_corpus(corpus)
        run = run_cli(["validate", "--natinst", corpus.root, "--cache-dir", Path(tmp) / "cache"])
        assert "Traceback" not in run.err + run.out
        assert snapshot(corpus.root) == before
        if ref.ok:
            assert run.code == 0, run.out + run.err
            return
        assert run.code == 1, f"the reference refuses this corpus, validate said: {run.out}"
        problems = [line for line in run.out.splitlines() if line.strip()]
        assert problems and all(str(corpus.root) in line or line.startswith("  ") for line in problems), problems


def _rows(out: Path) -> dict[str, dict]:
    rows = {}
    for path in sorted((out / "data" / "definition").glob("*.parquet")):
        for row in pq.read_table(path).to_pylist():
            assert row["id"] not in rows, f"duplicate id {row['id']}"
            rows[row["id"]] = row
    return rows


@settings(max_examples=examples(25))
@given(st.data())
def test_build_rows_equal_the_reference_or_one_error(data):
    with tempfile.TemporaryDirectory() as tmp:
        corpus = data.draw(corpora(Path(tmp) / "natinst"))
        corpus.write()
        before = snapshot(corpus.root)
        out = Path(tmp) / "out"
        ref = ref_read_corpus(corpus)
        run = run_cli(["build", "--natinst", corpus.root, "--out", out, "--configs", "definition",
                       "--no-progress", "--cache-dir", Path(tmp) / "cache"])
        assert snapshot(corpus.root) == before
        if run.code != 0:
            assert not ref.ok, f"the reference reads this corpus, build refused it: {run.err}"
            assert_one_error_naming(run, *_names_in(corpus))
            assert not out.exists() and not list(Path(tmp).glob(".out*")), "a refused build left files behind"
            return
        assert ref.ok, "build accepted a corpus the reference refuses"
        rows = _rows(out)
        expected = {inst_id: (name, task) for name, (_, task) in ref.tasks.items() for inst_id in task.rows}
        assert set(rows) == set(expected)
        for inst_id, row in rows.items():
            name, task = expected[inst_id]
            inputs, outputs = task.rows[inst_id]
            assert (row["task_name"], row["definition"], row["category"]) == (name, task.definition, task.category)
            assert (row["input"], row["outputs"]) == (inputs, outputs)
            assert row["completion"] == next(o for o in outputs if o.strip())
