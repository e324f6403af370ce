"""Real SUP-NATINST lengths for the GPU benchmark: measured once here, replayed as synthetic rows there.

The GPU machine has no copy of SUP-NATINST. So the lengths are measured on a machine that has the
real sample (``../shared/natinst``) and committed as numbers only (``benchmarks/natinst_lengths.json``:
token counts, never text):

    python benchmarks/gpu_lengths.py --natinst ../shared/natinst     # rewrites benchmarks/natinst_lengths.json

What is measured: the ``steps_ordered`` configuration built by ``stepinst build`` from the sample,
with a steps store made for the measurement (no generated steps exist offline): each task's steps are
the sentences of its own definition, at most ``MAX_STEPS``, so the steps block is about the size of
the definition (the paper's generated steps restate the definition as a numbered procedure). Prompts
and completions (+ the end-of-sequence token) are counted in ``cl100k_base`` tokens (tiktoken, offline).

The benchmark then writes rows whose prompt and completion have exactly those token counts in its
own tokenizer: windows of the embedded sample's rendered text (:func:`synthetic_rows`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import statistics
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
LENGTHS = ROOT / "benchmarks" / "natinst_lengths.json"
MAX_STEPS = 8
KEPT_PAIRS = 2000  # (prompt, completion) pairs kept in the file, drawn with seed 0


def definition_steps_store(natinst: Path, out: Path) -> Path:
    """A steps store (DESIGN.md's record) whose steps are each task's definition sentences."""
    now = datetime.now(timezone.utc).isoformat()
    with out.open("w", encoding="utf-8") as store:
        for path in sorted((natinst / "tasks").glob("*.json")):
            definition = json.loads(path.read_text(encoding="utf-8"))["Definition"]
            text = definition[0] if isinstance(definition, list) else definition
            sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()][:MAX_STEPS]
            record = {"task_name": path.stem, "steps": sentences, "raw": "\n".join(sentences),
                      "model": "benchmark: definition sentences", "prompt_version": "gpu-lengths-v1",
                      "definition_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(), "created_at": now,
                      "usage": None}
            store.write(json.dumps(record, ensure_ascii=False) + "\n")
    return out


def measure(natinst: Path) -> dict:
    """cl100k token counts of every steps_ordered row (train + test) of a build of ``natinst``."""
    import datasets

    from stepinst_data.cli import main as cli
    from stepinst_data.generation.tokens import get_encoding

    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        steps = definition_steps_store(natinst, tmp / "steps.jsonl")
        status = cli(["build", "--natinst", str(natinst), "--steps", str(steps), "--allow-missing-tasks",
                      "--configs", "steps_ordered", "--out", str(tmp / "ds"), "--cache-dir", str(tmp / "cache")])
        if status != 0:
            raise SystemExit(f"error: building steps_ordered from {natinst} failed (exit status {status})")
        ds = datasets.load_dataset(str(tmp / "ds"), "steps_ordered", cache_dir=str(tmp / "hf"))
        rows = datasets.concatenate_datasets([ds["train"], ds["test"]])
    encoding = get_encoding("cl100k_base")
    prompts = [len(x) for x in encoding.encode_ordinary_batch(list(rows["prompt"]))]
    completions = [len(x) + 1 for x in encoding.encode_ordinary_batch(list(rows["completion"]))]  # + EOS
    pairs = list(zip(prompts, completions))
    kept = sorted(random.Random(0).sample(pairs, min(KEPT_PAIRS, len(pairs))))
    return {
        "what": "token counts of the steps_ordered rows (prompt; completion + EOS) built from the real SUP-NATINST "
                "sample, no text", "source": "../shared/natinst (train + test rows of the sample's 125 task files)",
        "steps_store": f"each task's definition sentences as its steps (at most {MAX_STEPS}): no generated steps "
                       "exist offline; the steps block is about the definition's size",
        "encoding": "cl100k_base", "rows": len(pairs), "command": "python benchmarks/gpu_lengths.py --natinst ../shared/natinst",
        "prompt_tokens": _summary(prompts), "completion_tokens": _summary(completions),
        "pairs": [list(p) for p in kept],
    }


def _summary(values: list[int]) -> dict:
    ordered = sorted(values)
    return {"mean": round(statistics.mean(values), 1), "p50": ordered[len(ordered) // 2],
            "p90": ordered[int(0.9 * (len(ordered) - 1))], "max": ordered[-1]}


def load_pairs(path: Path = LENGTHS) -> tuple[list[tuple[int, int]], dict]:
    """The (prompt, completion) token counts and the file's description."""
    if not path.is_file():
        raise SystemExit(f"error: {path} is missing: run `python benchmarks/gpu_lengths.py --natinst ../shared/natinst`")
    data = json.loads(path.read_text(encoding="utf-8"))
    return [tuple(p) for p in data["pairs"]], {k: v for k, v in data.items() if k != "pairs"}


def synthetic_rows(pairs: list[tuple[int, int]], tokenizer, corpus: list[str], n: int, seed: int,
                   max_prompt: int = 1024) -> list[dict]:
    """``n`` rows (prompt, completion, outputs, ...) whose token counts in ``tokenizer`` follow ``pairs``.

    Each text is a window of ``corpus`` token ids decoded back to text; prompt lengths are capped at
    ``max_prompt`` (the recipes' source length), as the recipes would truncate them anyway.
    """
    from stepinst_data.dataset.template import render_prompt

    stream = [i for text in corpus for i in tokenizer(text, add_special_tokens=False)["input_ids"]]
    # the template's own tokens ("Definition: ", "Now complete the following example -", ...)
    overhead = len(tokenizer(render_prompt("x", definition="x"), add_special_tokens=False)["input_ids"]) - 2
    rng = random.Random(seed)
    rows = []
    for k in range(n):
        prompt_len, completion_len = pairs[rng.randrange(len(pairs))]
        target = min(prompt_len, max_prompt)
        text = max(2, target - overhead)
        instance = _window(stream, max(1, text - round(0.7 * text)), rng, tokenizer)
        definition_len = max(1, round(0.7 * text))
        for _ in range(4):  # windows re-encode to slightly other counts next to the template: correct the definition
            definition = _window(stream, definition_len, rng, tokenizer)
            got = len(tokenizer(render_prompt(instance, definition=definition), add_special_tokens=False)["input_ids"])
            if abs(got - target) <= 2 or definition_len == 1:
                break
            definition_len = max(1, definition_len - (got - target))
        completion = _window(stream, max(1, completion_len - 1), rng, tokenizer)  # the recipes append EOS
        # the fields of a real row, so the recipes fit prompts from them as they do a build's rows
        rows.append({"id": f"synthetic-{k}", "task_name": f"task{k % 119}", "category": "synthetic",
                     "definition": definition, "steps": [], "step_order": [], "positive_examples": [],
                     "negative_examples": [], "input": instance, "prompt": render_prompt(instance, definition=definition),
                     "completion": completion, "outputs": [completion]})
    return rows


def _window(stream: list[int], length: int, rng: random.Random, tokenizer) -> str:
    start = rng.randrange(max(1, len(stream) - length))
    ids = (stream * (1 + length // max(1, len(stream))))[start : start + length]
    return tokenizer.decode(ids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--natinst", type=Path, default=ROOT.parent / "shared" / "natinst")
    parser.add_argument("--out", type=Path, default=LENGTHS)
    args = parser.parse_args()
    if not (args.natinst / "tasks").is_dir():
        raise SystemExit(f"error: {args.natinst} has no tasks/ folder; pass --natinst with the real SUP-NATINST sample")
    result = measure(args.natinst)
    head = json.dumps({k: v for k, v in result.items() if k != "pairs"}, indent=1)
    args.out.write_text(head[:-2] + ',\n "pairs": ' + json.dumps(result["pairs"]) + "\n}\n", encoding="utf-8")
    print(f"wrote {args.out}: {result['rows']} rows, prompt tokens {result['prompt_tokens']}, "
          f"completion tokens {result['completion_tokens']}")


if __name__ == "__main__":
    main()
