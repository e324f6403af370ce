"""Evaluate a model on a stepinst test split exactly as the official SUP-NATINST evaluation does.

Greedy decoding (at most 128 new tokens, length-sorted batches), predictions written in the
official JSONL format, scored with :mod:`stepinst_data.evaluation.metrics` (exact match, ROUGE-L; overall,
per category, per task). Writes into ``OUT/<run_name>/``: ``predictions.jsonl``,
``references.jsonl``, ``metrics.json``, ``metrics.md``, ``categories.png`` and ``run.json``.

```bash
python recipes/evaluate.py --model out/qwen2.5-0.5b-steps_ordered --dataset stepinst --config steps_ordered --out eval/
python recipes/evaluate.py --model out/llama-3.1-8b-steps_ordered --dataset stepinst --config steps_ordered \
    --out eval/ --backend vllm          # large models, when vLLM is installed
stepinst score --predictions eval/<run>/predictions.jsonl --references eval/<run>/references.jsonl   # re-score
```
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass
class EvalArguments:
    """What to evaluate, on what, and where the results go."""

    model: str = field(metadata={"help": "a trained model folder (or adapter folder), or a Hub id"})
    dataset: str = field(default="stepinst", metadata={"help": "dataset folder or Hub id"})
    config: str = field(default="steps_ordered", metadata={"help": "the configuration whose prompts are used"})
    split: str = field(default="test", metadata={"help": "split to evaluate (official: test)"})
    out: str = field(default="eval", metadata={"help": "results go to OUT/<run_name>/"})
    run_name: str | None = field(default=None, metadata={"help": "default: <model folder name>-<config>"})
    label: str | None = field(default=None, metadata={"help": "row label in comparisons (default: the base model)"})
    backend: Literal["hf", "vllm"] = field(default="hf", metadata={"help": "transformers generate, or vLLM"})
    batch_size: int = field(default=16, metadata={"help": "prompts per generation batch"})
    max_new_tokens: int = field(default=128, metadata={"help": "official: 128"})
    max_source_length: int = field(default=1024, metadata={"help": "prompt tokens kept"})
    truncation_side: Literal["left", "right"] | None = field(default=None, metadata={"help": "default: left (causal), right (T5)"})
    dtype: str = field(default="auto", metadata={"help": "auto, float32, bfloat16, float16"})
    device: str | None = field(default=None, metadata={"help": "default: cuda if available, else cpu"})
    limit: int | None = field(default=None, metadata={"help": "evaluate the first N rows only (smoke tests; not comparable)"})
    dataset_cache_dir: str | None = field(default=None, metadata={"help": "datasets cache folder"})


def main(args: EvalArguments) -> None:
    import json
    import logging
    from pathlib import Path

    from stepinst_data.evaluation.metrics import reference_records, score, write_jsonl
    from stepinst_data.evaluation.predict import generate, generate_vllm, load_model, write_predictions
    from stepinst_data.evaluation.report import read_run, run_chart, run_table
    from stepinst_data.evaluation.training import load_instance_split, read_run_info

    logger = logging.getLogger("evaluate")
    rows = load_instance_split(args.dataset, args.config, args.split, args.dataset_cache_dir)
    if args.limit is not None:
        rows = rows.select(range(min(args.limit, len(rows))))
    trained = read_run_info(args.model)
    prompts = list(rows["prompt"])
    if args.backend == "vllm":
        side = args.truncation_side or trained.get("truncation", {}).get("side", "left")
        predictions, truncated = generate_vllm(args.model, prompts, args.max_new_tokens, args.max_source_length, side)
    else:
        loaded = load_model(args.model, args.device, args.dtype)
        predictions, truncated = generate(loaded, prompts, args.batch_size, args.max_new_tokens,
                                          args.max_source_length, args.truncation_side)
    if truncated:
        logger.warning("%d of %d prompts were longer than %d tokens and were truncated", truncated, len(rows), args.max_source_length)

    folder = Path(args.out) / (args.run_name or f"{Path(args.model.rstrip('/')).name}-{args.config}")
    references = reference_records(rows)
    write_jsonl(references, folder / "references.jsonl")
    write_predictions(list(rows["id"]), predictions, folder / "predictions.jsonl")
    results = score(dict(zip(rows["id"], predictions)), {r["id"]: r for r in references})
    (folder / "metrics.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    train_config = trained.get("config")
    info = {
        "model": args.model, "label": args.label or Path(str(trained.get("base_model", args.model)).rstrip("/")).name,
        "train_config": train_config, "eval_config": args.config, "split": args.split, "dataset": args.dataset,
        "column": args.config if train_config in (None, args.config) else f"{train_config}→{args.config}",
        "num_instances": len(rows), "truncated_prompts": truncated, "limit": args.limit,
        "categories": sorted(set(rows["category"])), "tasks": sorted(set(rows["task_name"])),
    }
    (folder / "run.json").write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    run = read_run(folder)
    (folder / "metrics.md").write_text(run_table(run), encoding="utf-8")
    run_chart(run, folder / "categories.png")
    print(f"{folder}: exact_match {run.exact_match:.2f}  rougeL {run.rouge_l:.2f}")


def make_parser():
    from transformers import HfArgumentParser

    return HfArgumentParser(EvalArguments)


if __name__ == "__main__":
    import logging
    import sys

    from stepinst_data.evaluation.training import RecipeError

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    (eval_args,) = make_parser().parse_args_into_dataclasses()
    try:
        main(eval_args)
    except RecipeError as e:
        sys.exit(f"error: {e}")
