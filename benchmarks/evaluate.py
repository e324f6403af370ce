"""Evaluation throughput on CPU: prompts per second of ``recipes/evaluate.py``'s HF generate path.

Builds the embedded sample's ``definition`` test split (180 prompts), a tiny random Llama and a
tiny random T5 (2 layers, 48 hidden; tokenizer trained on the sample) and times
:func:`stepinst_data.evaluation.predict.generate` at a few batch sizes. A random model never emits
EOS, so every prompt runs to ``--max-new-tokens``: the worst case. The same run with a model that
ends every answer at once shows what stopping a batch at EOS saves.

    python benchmarks/evaluate.py [--max-new-tokens 32] [--batch-sizes 1,16]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--batch-sizes", default="1,16")
    args = parser.parse_args()

    import datasets
    import torch

    from recipes_helpers import build_sample, sample_texts, tiny_causal_lm, tiny_t5, train_tokenizer
    from stepinst_data.evaluation.predict import generate, load_model

    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        dataset = build_sample(tmp / "stepinst", "definition,steps_ordered")
        prompts = list(datasets.load_dataset(str(dataset), "definition", cache_dir=str(tmp / "hf"))["test"]["prompt"])
        texts = sample_texts(dataset, tmp / "hf")
        causal_tok = train_tokenizer(texts, tmp / "tok")
        models = {
            "tiny Llama (random: never stops)": tiny_causal_lm(causal_tok, tmp / "llama"),
            "tiny Llama (ends every answer at once)": tiny_causal_lm(causal_tok, tmp / "llama-eos", always_eos=True),
            "tiny T5 (random: never stops)": tiny_t5(train_tokenizer(texts, tmp / "tok-t5", seq2seq=True), tmp / "t5"),
        }
        print(f"{len(prompts)} prompts (definition/test of the embedded sample), max_new_tokens {args.max_new_tokens}, "
              f"CPU, {torch.get_num_threads()} threads")
        for label, folder in models.items():
            loaded = load_model(str(folder), "cpu", "float32")
            for batch_size in (int(b) for b in args.batch_sizes.split(",")):
                start = time.perf_counter()
                generate(loaded, prompts, batch_size, args.max_new_tokens)
                seconds = time.perf_counter() - start
                print(f"  {label}, batch {batch_size}: {len(prompts) / seconds:,.1f} prompts/s")


if __name__ == "__main__":
    main()
