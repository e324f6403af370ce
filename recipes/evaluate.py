"""Evaluate a model on a stepinst test split exactly as the official SUP-NATINST evaluation does.

Greedy decoding (at most 128 new tokens, length-sorted batches sized to the GPU's free memory, a
batch stops when every sequence has ended; bfloat16 on a GPU, float32 on CPU unless ``--dtype`` says), predictions written in the official JSONL format, scored with
:mod:`stepinst_data.evaluation.metrics` (exact match, ROUGE-L; overall, per category, per task).
Writes into ``--output_dir``: ``predictions.jsonl``, ``references.jsonl``, ``scores.jsonl`` (per
instance, for paired tests), ``metrics.json``, ``metrics.md``, ``categories.png`` and ``run.json``
(written last: a folder with ``run.json`` is a finished evaluation).

The flags are the training recipes' (``model_name_or_path``, ``dataset_name``, ``dataset_config``,
``output_dir``), and ``--config FILE.yaml`` reads defaults from a YAML, as there.

```bash
python recipes/evaluate.py --model_name_or_path out/qwen2.5-0.5b-steps_ordered --dataset_name stepinst \
    --dataset_config steps_ordered --output_dir eval/qwen2.5-0.5b-steps_ordered
python recipes/evaluate.py --config recipes/configs/evaluate/official.yaml --model_name_or_path out/llama-steps_ordered \
    --dataset_config steps_ordered --output_dir eval/llama-steps_ordered --backend vllm   # a merged model or a LoRA adapter
stepinst score --predictions eval/<run>/predictions.jsonl --references eval/<run>/references.jsonl   # re-score
```

``--backend vllm`` (``pip install -e ".[vllm]"``, a CUDA GPU) serves a full model, or a LoRA
adapter on its base model through vLLM's LoRA support. Encoder-decoder models (T5) always run on
transformers' generate: vLLM does not serve them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass
class EvalArguments:
    """What to evaluate, on what, and where the results go."""

    model_name_or_path: str | None = field(default=None, metadata={"help": "a trained model folder (or LoRA adapter folder), or a Hub id"})
    dataset_name: str = field(default="stepinst", metadata={"help": "dataset folder or Hub id"})
    dataset_config: str | None = field(default=None, metadata={"help": "the configuration whose prompts are used"})
    dataset_test_split: str = field(default="test", metadata={"help": "split to evaluate (official: test)"})
    output_dir: str | None = field(default=None, metadata={"help": "results folder (default: eval/<model folder name>-<config>)"})
    label: str | None = field(default=None, metadata={"help": "row label in comparisons (default: the base model's name)"})
    backend: Literal["hf", "vllm"] = field(default="hf", metadata={"help": "transformers generate, or vLLM (causal LMs)"})
    batch_size: int = field(default=512, metadata={"help": "most prompts per generation batch (hf); the token budget decides below that"})
    max_batch_tokens: int | None = field(default=None, metadata={"help": "most rows x (longest prompt + new tokens) per batch (hf); default: what fits the GPU's free memory, no limit on CPU"})
    compile: bool = field(default=False, metadata={"help": "static KV cache, compiled by transformers on a GPU (hf); pays off on long evaluations"})
    max_new_tokens: int = field(default=128, metadata={"help": "official: 128"})
    max_source_length: int = field(default=1024, metadata={"help": "prompt tokens kept"})
    truncation_side: Literal["left", "right"] | None = field(default=None, metadata={"help": "where an instance longer than the source length is cut from; default: as trained"})
    resample_step_order: bool | None = field(default=None, metadata={"help": "shuffled steps re-drawn with the training seed (default: as trained)"})
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = field(default="auto", metadata={"help": "auto: bfloat16 on a GPU, float32 on CPU (recorded in run.json)"})
    device: str | None = field(default=None, metadata={"help": "default: cuda if available, else cpu (hf)"})
    limit: int | None = field(default=None, metadata={"help": "the first N rows only (smoke tests; kept apart in comparisons)"})
    dataset_cache_dir: str | None = field(default=None, metadata={"help": "datasets cache folder"})


def main(args: EvalArguments) -> None:
    import logging
    from pathlib import Path

    from stepinst_data.evaluation.predict import is_encoder_decoder, load_tokenizer, predict, resolve_dtype
    from stepinst_data.evaluation.prompt_fit import fit_prompts
    from stepinst_data.evaluation.settings import evaluation_settings
    from stepinst_data.evaluation.report import Run, write_run_reports
    from stepinst_data.evaluation.run_record import EvalRecord, read_train_record, write_eval_record, write_scores
    from stepinst_data.evaluation.training import RecipeError, evaluation_step_order_seed, load_instance_split

    if not args.model_name_or_path or not args.dataset_config:
        raise RecipeError("set `--model_name_or_path` and `--dataset_config` (on the command line or in the YAML)")
    rows = load_instance_split(args.dataset_name, args.dataset_config, args.dataset_test_split, args.dataset_cache_dir)
    if args.limit is not None:
        rows = rows.select(range(min(args.limit, len(rows))))
    trained = read_train_record(args.model_name_or_path)
    side = args.truncation_side or trained.get("truncation", {}).get("side") or (
        "right" if is_encoder_decoder(args.model_name_or_path) else "left")
    # Fit each prompt as the model was trained (examples, then steps dropped; never the instance), and show a
    # shuffled configuration in the order its training seed drew (every seed samples its own permutation).
    order_seed = evaluation_step_order_seed(args.dataset_config, args.resample_step_order, trained)
    prompts, fit = fit_prompts(rows, load_tokenizer(args.model_name_or_path), args.max_source_length, side, order_seed)
    fit.log(f"{args.dataset_config}/{args.dataset_test_split}")
    dtype = resolve_dtype(args.dtype, _device(args.device))
    predictions, truncated, backend = predict(
        args.model_name_or_path, prompts, args.backend, batch_size=args.batch_size,
        max_new_tokens=args.max_new_tokens, max_source_length=args.max_source_length, truncation_side=side,
        dtype=dtype, device=args.device, max_batch_tokens=args.max_batch_tokens, compile=args.compile,
    )
    if truncated:  # fitting leaves none; a tokenizer that encodes a decoded text longer could
        logging.getLogger("evaluate").warning("%d of %d fitted prompts were still longer than %d tokens and were cut",
                                              truncated, len(rows), args.max_source_length)
        fit.instance_cut += truncated

    model_name = Path(args.model_name_or_path.rstrip("/")).name
    folder = Path(args.output_dir or Path("eval") / f"{model_name}-{args.dataset_config}")
    train_config = trained.get("config")
    record = EvalRecord(
        model=args.model_name_or_path, label=args.label or Path(str(trained.get("base_model", model_name)).rstrip("/")).name,
        train_config=train_config, eval_config=args.dataset_config, split=args.dataset_test_split,
        column=args.dataset_config if train_config in (None, args.dataset_config) else f"{train_config}→{args.dataset_config}",
        dataset=args.dataset_name, num_instances=len(rows), seed=trained.get("seed"), limit=args.limit,
        truncated_prompts=fit.over_budget, backend=backend,
        categories=sorted(set(rows["category"])), tasks=sorted(set(rows["task_name"])),
        settings=evaluation_settings(args, trained.get("settings", {}), order_seed), truncation=fit.as_dict(),
        train_truncation=trained.get("truncation", {}), compute=trained.get("compute", {}),
    )
    record.settings.update({"eval.dtype": dtype, "eval.backend": backend})  # as run: `auto` resolved, T5 always on hf
    run = Run(folder, record, write_scores(folder, rows, predictions))
    write_run_reports(run)
    write_eval_record(folder, record)  # last: its presence marks a finished evaluation
    print(f"{folder}: exact_match {run.exact_match:.2f}  rougeL {run.rouge_l:.2f}")


def _device(device: str | None) -> str:
    import torch

    return device or ("cuda" if torch.cuda.is_available() else "cpu")


def make_parser():
    from trl import TrlParser  # an HfArgumentParser that reads `--config file.yaml` (unknown keys are errors)

    return TrlParser((EvalArguments,))


if __name__ == "__main__":
    from stepinst_data.evaluation.training import run_recipe

    run_recipe(make_parser, main)
