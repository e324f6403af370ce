"""One optimizer step of 16 instances is the same step however it is split: 16x1, 8x2, 4x4, two processes.

The step's loss must be the token mean over its 16 instances, and its gradient the gradient of that
mean. transformers' Trainer once made T5's loss and gradient grow with the accumulation steps (it
skips the division for models whose ``forward`` takes ``**kwargs``); these tests hold the Seq2Seq
recipe to the exact step (and the causal recipe, which TRL normalises, to the same standard).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from recipes_helpers import build_sample, tiny_causal_lm, tiny_t5, train_tokenizer

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "recipes"
LAYOUTS = [(16, 1), (8, 2), (4, 4)]
# Every layout trains on the same 16 rows (--max_train_samples 16): one step sees all of them, whatever order
# the sampler of one or several processes draws them in.

# Loads a recipe, trains one optimizer step and writes its logged loss, grad-norm and flat gradient (rank 0).
PROBE = r'''
import importlib.util, json, sys
from pathlib import Path

import torch
from transformers import TrainerCallback

recipe, out, argv = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]
spec = importlib.util.spec_from_file_location(f"recipe_{Path(recipe).stem}", recipe)
module = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = module
spec.loader.exec_module(module)
args = module.make_parser().parse_args_and_config(argv)
trainer = module.build_trainer(*args)[0]


class Grab(TrainerCallback):
    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        self.grad = torch.cat([p.grad.detach().float().flatten() for p in model.parameters() if p.grad is not None])


grab = Grab()
trainer.add_callback(grab)
trainer.train()
if trainer.is_world_process_zero():
    log = next(e for e in trainer.state.log_history if "loss" in e)
    torch.save(grab.grad, out / "grad.pt")
    (out / "step.json").write_text(json.dumps({"loss": log["loss"], "grad_norm": log["grad_norm"]}))
'''


@pytest.fixture(scope="module")
def step_assets(tmp_path_factory):
    root = tmp_path_factory.mktemp("step")
    dataset = build_sample(root / "stepinst", "definition")
    texts = sample_texts_for(dataset, root / "hf")
    t5 = tiny_t5(train_tokenizer(texts, root / "tok-t5", seq2seq=True), root / "tiny-t5", dropout=0.0)
    causal = tiny_causal_lm(train_tokenizer(texts, root / "tok-causal"), root / "tiny-llama")
    probe = root / "probe.py"
    probe.write_text(PROBE)
    return {"root": root, "dataset": dataset, "t5": t5, "causal": causal, "probe": probe}


def sample_texts_for(dataset: Path, cache: Path) -> list[str]:
    import datasets

    ds = datasets.load_dataset(str(dataset), "definition", cache_dir=str(cache))
    return [r["prompt"] + r["completion"] for split in ds.values() for r in split]


def _seq2seq_args(assets, per_device: int, accumulation: int, out: Path) -> list[str]:
    return ["--config", str(RECIPES / "configs/seq2seq/t5-lm-adapt-base.yaml"), "--dataset_config", "definition",
            "--model_name_or_path", str(assets["t5"]), "--dataset_name", str(assets["dataset"]),
            "--dataset_cache_dir", str(assets["root"] / "hf"), "--output_dir", str(out), "--bf16", "false",
            "--use_cpu", "true", "--max_steps", "1", "--logging_steps", "1", "--save_strategy", "no",
            "--per_device_train_batch_size", str(per_device), "--gradient_accumulation_steps", str(accumulation),
            "--train_sampling_strategy", "random", "--max_source_length", "128", "--max_train_samples", "16"]


def _sft_args(assets, per_device: int, accumulation: int, out: Path) -> list[str]:
    return ["--config", str(RECIPES / "configs/sft/qwen2.5-0.5b.yaml"), "--dataset_config", "definition",
            "--model_name_or_path", str(assets["causal"]), "--dataset_name", str(assets["dataset"]),
            "--dataset_cache_dir", str(assets["root"] / "hf"), "--output_dir", str(out), "--bf16", "false",
            "--use_cpu", "true", "--max_steps", "1", "--logging_steps", "1", "--save_strategy", "no",
            "--activation_checkpointing", "false", "--max_length", "256", "--warmup_steps", "0", "--max_train_samples", "16",
            "--per_device_train_batch_size", str(per_device), "--gradient_accumulation_steps", str(accumulation)]


def _one_step(assets, script: str, args: list[str], out: Path, processes: int = 1) -> tuple[dict, "object"]:
    """Run the probe in this process (one process), or under torchrun on the CPU (several, gloo)."""
    import runpy

    import torch

    out.mkdir(parents=True, exist_ok=True)
    probe_argv = [str(assets["probe"]), str(RECIPES / f"{script}.py"), str(out), *args]
    if processes == 1:
        saved = sys.argv
        sys.argv = probe_argv
        try:
            runpy.run_path(str(assets["probe"]), run_name="__probe__")
        finally:
            sys.argv = saved
    else:
        # torchrun: what `accelerate launch` runs on GPUs; on CPU accelerate would need MPI, torchrun uses gloo
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes)]
        done = subprocess.run([*launcher, *probe_argv], capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((out / "step.json").read_text()), torch.load(out / "grad.pt")


def _assert_same_step(reference, other, what: str) -> None:
    import torch

    (ref_log, ref_grad), (log, grad) = reference, other
    assert log["loss"] == pytest.approx(ref_log["loss"], rel=1e-4), what
    assert log["grad_norm"] == pytest.approx(ref_log["grad_norm"], rel=1e-4), what
    assert torch.allclose(grad, ref_grad, rtol=1e-4, atol=1e-6), (what, (grad - ref_grad).abs().max())


@pytest.mark.slow
@pytest.mark.parametrize("script,make_args", [("seq2seq", _seq2seq_args), ("sft", _sft_args)], ids=["t5", "causal"])
def test_a_step_of_16_instances_is_the_same_for_every_batch_layout(step_assets, tmp_path, script, make_args):
    steps = {layout: _one_step(step_assets, script, make_args(step_assets, *layout, tmp_path / f"{layout[0]}x{layout[1]}"),
                               tmp_path / f"{layout[0]}x{layout[1]}") for layout in LAYOUTS}
    reference = steps[(16, 1)]
    for layout in LAYOUTS[1:]:
        _assert_same_step(reference, steps[layout], f"{script} {layout[0]}x{layout[1]} vs 16x1")


@pytest.mark.slow
def test_two_processes_take_the_same_t5_step_as_one(step_assets, tmp_path):
    one = _one_step(step_assets, "seq2seq", _seq2seq_args(step_assets, 16, 1, tmp_path / "one"), tmp_path / "one")
    two = _one_step(step_assets, "seq2seq", _seq2seq_args(step_assets, 4, 2, tmp_path / "two"), tmp_path / "two", processes=2)
    _assert_same_step(one, two, "2 processes x 4 x 2 vs 1 process x 16")


def test_the_token_mean_loss_weights_every_token_of_the_step_alike():
    """Two micro-batches of unequal target lengths: their summed losses equal the token mean of the whole step."""
    import torch

    from stepinst_data.evaluation.training import token_mean_loss

    torch.manual_seed(0)
    logits = torch.randn(4, 5, 11)
    labels = torch.randint(0, 11, (4, 5))
    labels[0, 3:] = -100
    labels[2, 1:] = -100
    whole = torch.nn.functional.cross_entropy(logits.reshape(-1, 11), labels.reshape(-1), ignore_index=-100)
    items = labels.ne(-100).sum()
    halves = sum(token_mean_loss({"logits": logits[i:i + 2]}, labels[i:i + 2], items) for i in (0, 2))
    assert torch.allclose(halves, whole)
    assert torch.allclose(token_mean_loss({"logits": logits}, labels), whole)  # no step: the batch's own mean
