"""Property test: generated predictions and references files through ``stepinst score``, against
a reference scorer written from the official definition (exact match after lowercasing, removing
punctuation and collapsing spaces; max over references; 100 x mean, 4 decimals).

Each line is a JSON object; ids are unique strings; a prediction is text (null, a number or a list
is refused, never scored as "None" or "5"); references are a non-empty list of texts; a
prediction for an unknown id is refused; a missing one scores as "". Either the printed exact
match equals the reference's, or score exits 1 naming the file and writes no --out.
"""

from __future__ import annotations

import json
import string
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from fuzz_helpers import CHARS, assert_one_error_naming, examples, run_cli, snapshot

WORDS = st.sampled_from(["Yes", "no", "the cat", "Paris.", "42", "  a  b ", "Ünïcode!", ""])
BAD_PREDICTIONS = st.sampled_from([None, 5, 5.0, True, [], ["yes"], {"text": "yes"}])


def _normalize(text: str) -> str:
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    return " ".join(text.split())


def _lines(raw: bytes) -> list | None:
    try:
        return [json.loads(line) for line in raw.decode("utf-8").split("\n") if line.strip()]
    except ValueError:
        return None


def _by_id(rows: list | None, key: str, valid) -> dict | None:
    if rows is None:
        return None
    found = {}
    for row in rows:
        if type(row) is not dict or type(row.get("id")) is not str or key not in row or not valid(row[key]):
            return None
        if row["id"] in found:
            return None
        found[row["id"]] = row[key]
    return found


def ref_exact_match(predictions: bytes, references: bytes) -> float | None:
    preds = _by_id(_lines(predictions), "prediction", lambda p: type(p) is str)
    refs = _by_id(_lines(references), "references", lambda r: type(r) is list and r and all(type(x) is str for x in r))
    if preds is None or refs is None or not refs or set(preds) - set(refs):
        return None
    hits = sum(max(float(_normalize(preds.get(i, "")) == _normalize(r)) for r in golds) for i, golds in refs.items())
    return round(100.0 * hits / len(refs), 4)


@st.composite
def score_files(draw) -> tuple[bytes, bytes]:
    n = draw(st.integers(1, 4))
    refs = [{"id": f"task1-{i}", "references": draw(st.lists(WORDS, min_size=1, max_size=2)),
             "task_id": "task1_a", "task_category": "Question Answering"} for i in range(n)]
    preds = []
    for ref in refs:
        if draw(st.integers(0, 4)) == 0:
            continue  # a missing prediction
        prediction = draw(st.one_of(WORDS, st.text(CHARS, max_size=8), st.sampled_from(ref["references"]).map(str.upper)))
        preds.append({"id": ref["id"], "prediction": prediction})
    kind = draw(st.sampled_from(["ok", "ok", "bad_prediction", "missing_key", "duplicate", "unknown_id", "int_id",
                                 "not_an_object", "torn", "latin-1", "bad_references"]))
    if kind == "bad_prediction" and preds:
        preds[0]["prediction"] = draw(BAD_PREDICTIONS)
    elif kind == "missing_key" and preds:
        del preds[0][draw(st.sampled_from(["id", "prediction"]))]
    elif kind == "duplicate" and preds:
        preds.append(dict(preds[0]))
    elif kind == "unknown_id":
        preds.append({"id": "task9-x", "prediction": "yes"})
    elif kind == "int_id" and preds:
        preds[0]["id"] = 7
    elif kind == "bad_references":
        refs[0]["references"] = draw(st.sampled_from([[], "yes", [None], [5], None]))
    pred_raw = "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in preds).encode("utf-8")
    ref_raw = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in refs).encode("utf-8")
    if kind == "not_an_object":
        pred_raw += draw(st.sampled_from([b"5\n", b"[1]\n", b"null\n", b'"x"\n']))
    elif kind == "torn":
        pred_raw += b'{"id": "task1-0", "predic'
    elif kind == "latin-1":
        pred_raw += '{"id": "task1-0", "prediction": "é"}\n'.encode("latin-1")
    return pred_raw, ref_raw


@settings(max_examples=examples(80))
@given(files=score_files())
def test_score_equals_the_reference_scorer_or_one_error(files):
    with tempfile.TemporaryDirectory() as tmp:
        preds, refs, out = Path(tmp) / "preds.jsonl", Path(tmp) / "refs.jsonl", Path(tmp) / "metrics.json"
        preds.write_bytes(files[0])
        refs.write_bytes(files[1])
        before = snapshot(preds, refs)
        expected = ref_exact_match(*files)
        run = run_cli(["score", "--predictions", preds, "--references", refs, "--out", out])
        assert snapshot(preds, refs) == before
        if expected is None:
            assert_one_error_naming(run, str(preds), str(refs))
            assert not out.exists()
            return
        assert run.code == 0, run.err
        result = json.loads(run.out)
        assert result["exact_match_default_track"] == expected
        assert 0.0 <= result["rougeL_default_track"] <= 100.0
        assert json.loads(out.read_text(encoding="utf-8")) == result
