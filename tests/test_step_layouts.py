"""A step of 16 instances is the same step in every batch layout: 16 x 1, 8 x 2, 4 x 4 (the causal recipe).

The recipe YAMLs now train one micro-batch of 16 where they used accumulation; this shows that the
loss and the gradient of the step do not depend on the layout (TRL normalizes by the loss tokens of
the whole step), and that the causal batches are padding-free with attention kept inside each
instance (else rows holding other neighbours would give other losses). The T5 recipe's equivalence
is tested with its loss fix.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from recipes_helpers import build_sample, sample_texts, tiny_causal_lm, train_tokenizer

ROOT = Path(__file__).resolve().parents[1]


def _sft():
    spec = importlib.util.spec_from_file_location("recipe_sft", ROOT / "recipes" / "sft.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    root = tmp_path_factory.mktemp("layouts")
    dataset = build_sample(root / "stepinst", "steps_ordered")
    model = tiny_causal_lm(train_tokenizer(sample_texts(dataset, root / "hf"), root / "tok"), root / "llama")
    return dataset, model


def _one_step(assets, tmp_path: Path, per_device: int, accumulation: int):
    """Loss, gradient (SGD with lr 1: the parameter change) and micro-batches of one optimizer step."""
    dataset, model = assets
    sft = _sft()
    args = sft.make_parser().parse_args_and_config([
        "--config", str(ROOT / "recipes/configs/sft/qwen2.5-0.5b.yaml"), "--dataset_config", "steps_ordered",
        "--model_name_or_path", str(model), "--dataset_name", str(dataset), "--dataset_cache_dir", str(tmp_path / "hf"),
        "--output_dir", str(tmp_path / f"out-{per_device}x{accumulation}"), "--bf16", "false", "--use_cpu", "true",
        "--max_train_samples", "16", "--max_steps", "1", "--logging_steps", "1", "--save_strategy", "no",
        "--per_device_train_batch_size", str(per_device), "--gradient_accumulation_steps", str(accumulation),
        "--optim", "sgd", "--learning_rate", "1.0", "--lr_scheduler_type", "constant", "--warmup_steps", "0",
        "--weight_decay", "0", "--max_grad_norm", "0", "--report_to", "none", "--disable_tqdm", "true",
    ])
    trainer = sft.build_trainer(*args)[0]
    before = {k: v.detach().clone() for k, v in trainer.model.named_parameters()}
    batches = []
    original = trainer.training_step
    trainer.training_step = lambda model, inputs, *rest: batches.append(dict(inputs)) or original(model, inputs, *rest)
    trainer.train()
    after = dict(trainer.model.named_parameters())
    gradient = {k: before[k] - after[k].detach() for k in before}
    loss = next(e["loss"] for e in trainer.state.log_history if "loss" in e)
    return loss, gradient, batches


def test_16x1_8x2_4x4_give_the_same_loss_and_gradient(assets, tmp_path):
    import torch

    loss, gradient, batches = _one_step(assets, tmp_path, 16, 1)
    assert len(batches) == 1 and sum(g.abs().sum() for g in gradient.values()) > 0
    (batch,) = batches
    # padding-free: one row, no attention mask, position ids restart at each of the 16 instances
    assert batch["input_ids"].shape[0] == 1 and "attention_mask" not in batch
    assert int((batch["position_ids"][0] == 0).sum()) == 16
    for per_device, accumulation in ((8, 2), (4, 4)):
        other_loss, other_gradient, other_batches = _one_step(assets, tmp_path, per_device, accumulation)
        assert len(other_batches) == accumulation
        assert other_loss == pytest.approx(loss, rel=1e-5)
        for name, g in gradient.items():
            torch.testing.assert_close(other_gradient[name], g, rtol=1e-4, atol=1e-6, msg=f"{name} {per_device}x{accumulation}")


@pytest.mark.parametrize("path", sorted((ROOT / "recipes" / "configs").glob("s*/*.yaml")), ids=lambda p: p.stem)
def test_every_training_yaml_takes_one_micro_batch_of_16_without_a_host_sync_per_step(path):
    import yaml

    values = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert (values["per_device_train_batch_size"], values["gradient_accumulation_steps"]) == (16, 1)
    assert values["logging_nan_inf_filter"] is False and values["logging_steps"] >= 10
    assert not values.get("include_num_input_tokens_seen") and not values.get("use_liger_kernel")  # opt-ins stay off
    assert not values.get("torch_compile")
