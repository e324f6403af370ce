"""Padding waste and CPU training throughput of the recipes' batching, on real prompt lengths.

Builds the ``definition`` configuration (no steps needed) from the real SUP-NATINST sample in
``../shared/natinst``, tokenizes every row exactly as ``recipes/sft.py`` does (prompt + completion
+ EOS, via :func:`stepinst_data.evaluation.training.tokenize_causal`) and compares, per batch:

* naive padding: random batches of ``--batch-size`` rows padded to the longest row;
* the SFT recipe's setting: the same random batches, padding-free (TRL's collator concatenates
  the rows; position ids restart at each row);
* packing: best-fit-decreasing packing into ``max_length`` blocks (TRL's ``pack_dataset``) with
  TRL's padding-free collator.

Waste = padding tokens / tokens the model processes. Then it trains a tiny Llama on CPU for a few
steps with each setting and prints the useful (non-padding) training tokens per second. Padding-free
and packed batches run as TRL runs them (``use_cache=False``, so that transformers builds a
per-document mask from the position ids; with a cache it silently lets the documents of a block
attend to each other, which is faster and wrong); the benchmark checks that on one block.

For T5 (``recipes/seq2seq.py``) it prints the encoder and decoder padding of random batches
against length-grouped ones (``train_sampling_strategy: group_by_length``, transformers'
``LengthGroupedSampler`` over per-device batch × accumulation).
No real tokenizer can be downloaded here: a byte-level BPE (``--vocab-size``) is trained on the
rows themselves, which gives lengths of the same order as GPT-2-style tokenizers.

    python benchmarks/train.py [--natinst ../shared/natinst] [--steps 6]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def build_rows(natinst: Path, tmp: Path):
    import datasets

    from stepinst_data.cli import main as cli

    out = tmp / "stepinst"
    args = ["build", "--natinst", str(natinst), "--allow-missing-tasks", "--configs", "definition",
            "--out", str(out), "--cache-dir", str(tmp / "cache")]
    if cli(args) != 0:
        raise SystemExit("building the definition config failed")
    ds = datasets.load_dataset(str(out), "definition", cache_dir=str(tmp / "hf"))
    return datasets.concatenate_datasets([ds["train"], ds["test"]]), out


def padding_naive(lengths: list[int], batch_size: int, seed: int = 0) -> tuple[float, list[list[int]]]:
    order = list(range(len(lengths)))
    random.Random(seed).shuffle(order)
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    real = sum(lengths)
    processed = sum(len(b) * max(lengths[i] for i in b) for b in batches)
    return 1 - real / processed, batches


def padding_packed(tokenized, max_length: int, batch_size: int, pad_id: int) -> tuple[float, list, float]:
    """Waste of BFD packing + TRL's padding-free collator, measured on the collated tensors."""
    from trl.data_utils import pack_dataset
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    packed = pack_dataset(tokenized, max_length, strategy="bfd")
    collator = DataCollatorForLanguageModeling(pad_token_id=pad_id, padding_free=True)
    real = processed = 0
    batches = []
    for i in range(0, len(packed), batch_size):
        examples = [packed[j] for j in range(i, min(i + batch_size, len(packed)))]
        batch = collator(examples)
        real += sum(len(e["input_ids"]) for e in examples)
        processed += batch["input_ids"].numel()
        batches.append(batch)
    fill = statistics.mean(len(p["input_ids"]) / max_length for p in packed)
    return 1 - real / processed, batches, fill


def tokens_per_second(model, batches, steps: int) -> float:
    import torch

    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    model(**batches[0], use_cache=False).loss.backward()  # warm-up, untimed: the first step pays allocation
    opt.zero_grad()
    useful = 0
    start = time.perf_counter()
    for batch in batches[:steps]:
        loss = model(**batch, use_cache=False).loss  # as TRL's SFTTrainer.compute_loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        mask = batch.get("attention_mask")
        useful += int(mask.sum()) if mask is not None else batch["input_ids"].numel()
    return useful / (time.perf_counter() - start)


def naive_batches(tokenized, groups, pad_id: int, padding_free: bool = False):
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    collator = DataCollatorForLanguageModeling(pad_token_id=pad_id, padding_free=padding_free)
    return [collator([{"input_ids": tokenized[i]["input_ids"], "completion_mask": tokenized[i]["completion_mask"]} for i in g])
            for g in groups]


def per_document_attention_gap(model, batch) -> float:
    """Max |logit difference| of the last document of a padding-free block, run inside the block vs alone."""
    import torch

    model.eval()
    starts = (batch["position_ids"][0] == 0).nonzero().flatten().tolist()
    last = starts[-1]
    with torch.no_grad():
        inside = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False).logits[0, last:]
        alone = model(input_ids=batch["input_ids"][:, last:], use_cache=False).logits[0]
    model.train()
    return float((inside - alone).abs().max())


def t5_padding(rows, tok_dir: Path, batch_size: int, accumulation: int) -> dict[str, tuple[float, float]]:
    """Encoder and decoder padding waste of random vs length-grouped T5 batches (Tk-Instruct lengths 1024/128)."""
    import torch
    from transformers import AutoTokenizer
    from transformers.trainer_pt_utils import LengthGroupedSampler

    from stepinst_data.evaluation.training import tokenize_seq2seq

    tokenized, _ = tokenize_seq2seq(rows, AutoTokenizer.from_pretrained(tok_dir), 1024, 128)
    enc = [len(x) for x in tokenized["input_ids"]]
    dec = [len(x) for x in tokenized["labels"]]
    random_order = list(range(len(enc)))
    random.Random(0).shuffle(random_order)
    grouped = list(LengthGroupedSampler(batch_size * accumulation, lengths=enc, generator=torch.Generator().manual_seed(0)))

    def waste(order: list[int], lengths: list[int]) -> float:
        batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        return 1 - sum(lengths) / sum(len(b) * max(lengths[i] for i in b) for b in batches)

    return {name: (waste(order, enc), waste(order, dec)) for name, order in (("random", random_order), ("grouped", grouped))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--natinst", default=str(ROOT.parent / "shared" / "natinst"))
    parser.add_argument("--batch-size", type=int, default=8, help="rows per naive batch")
    parser.add_argument("--max-length", type=int, default=1152, help="the recipe's max_length (pack size)")
    parser.add_argument("--vocab-size", type=int, default=8000)
    parser.add_argument("--steps", type=int, default=6, help="training steps timed per setting")
    parser.add_argument("--t5-batch-size", type=int, default=16, help="T5 per-device batch (t5-lm-adapt-base: 16)")
    parser.add_argument("--t5-accumulation", type=int, default=1, help="T5 accumulation steps (t5-lm-adapt-base: 1)")
    args = parser.parse_args()
    if not Path(args.natinst, "tasks").is_dir():
        print(f"skipped: {args.natinst} not found (the real SUP-NATINST sample lives in ../shared/natinst)")
        return

    import torch
    from transformers import AutoTokenizer

    from recipes_helpers import tiny_causal_lm, train_tokenizer
    from stepinst_data.evaluation.training import tokenize_causal

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        rows, _ = build_rows(Path(args.natinst), tmp)
        texts = [p + c for p, c in zip(rows["prompt"], rows["completion"])]
        tok_dir = train_tokenizer(texts, tmp / "tok", vocab_size=args.vocab_size)
        tokenizer = AutoTokenizer.from_pretrained(tok_dir)
        tokenized, report = tokenize_causal(rows, tokenizer, args.max_length, "left")
        tokenized = tokenized.remove_columns("id")
        lengths = [len(x) for x in tokenized["input_ids"]]
        print(f"rows: {len(lengths)} (definition config, train+test of {args.natinst})")
        print(f"tokens per row: median {statistics.median(lengths):.0f}, mean {statistics.mean(lengths):.0f}, "
              f"max {max(lengths)}; prompts truncated to fit {args.max_length}: {report.truncated_prompts}")

        naive_waste, groups = padding_naive(lengths, args.batch_size)
        packed_waste, packed, fill = padding_packed(tokenized, args.max_length, max(1, args.batch_size // 4), tokenizer.pad_token_id)
        print(f"padding waste, naive padding (batch {args.batch_size}, random order): {100 * naive_waste:.1f}%")
        print(f"padding waste, SFT recipe (padding-free batches of {args.batch_size} rows): 0.00%")
        print(f"padding waste, BFD packing to {args.max_length} + padding-free: {100 * packed_waste:.2f}% "
              f"(packs {100 * fill:.1f}% full on average)")
        for name, (enc, dec) in t5_padding(rows, train_tokenizer(texts, tmp / "tok-t5", vocab_size=args.vocab_size, seq2seq=True),
                                           args.t5_batch_size, args.t5_accumulation).items():
            print(f"T5 padding waste, {name} batches of {args.t5_batch_size}: encoder {100 * enc:.1f}%, decoder {100 * dec:.1f}%")

        model = __import__("transformers").AutoModelForCausalLM.from_pretrained(tiny_causal_lm(tok_dir, tmp / "llama"))
        free = naive_batches(tokenized, groups, tokenizer.pad_token_id, padding_free=True)
        gap = per_document_attention_gap(model, packed[0])
        print(f"per-document attention in a packed block: max |logit difference| vs the document alone = {gap:.2e}")
        naive = naive_batches(tokenized, groups, tokenizer.pad_token_id)
        tps_naive = tokens_per_second(model, naive, args.steps)
        tps_free = tokens_per_second(model, free, args.steps)
        tps_packed = tokens_per_second(model, packed, args.steps)
        print(f"tiny Llama (48 hidden, 2 layers) on CPU, {torch.get_num_threads()} threads, {args.steps} steps each:")
        print(f"  naive padding: {tps_naive:,.0f} useful training tokens/s")
        print(f"  padding-free (the SFT recipe): {tps_free:,.0f} useful training tokens/s ({tps_free / tps_naive:.2f}x)")
        print(f"  BFD packing: {tps_packed:,.0f} useful training tokens/s ({tps_packed / tps_naive:.2f}x)")
        print("GPU figures: not measured (no GPU on this machine)")


if __name__ == "__main__":
    main()
