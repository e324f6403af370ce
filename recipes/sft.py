"""Supervised fine-tuning of a causal LM on a stepinst configuration, with TRL's ``SFTTrainer``.

Rows are prompt/completion pairs tokenized by :mod:`stepinst_data.evaluation.training` (the prompt gives way
when too long, from ``truncation_side``), the loss is on the completion only, and instances are
concatenated into padding-free batches (attention stays within each instance). Full fine-tuning
keeps fp32 master weights and computes in bf16 (``dtype: float32`` + ``bf16: true``).

# One GPU: a model's recipe, the dataset configuration on the command line
```bash
python recipes/sft.py --config recipes/configs/sft/qwen2.5-0.5b.yaml \
    --dataset_config steps_ordered --output_dir out/qwen2.5-0.5b-steps_ordered
```

# Any YAML value can be overridden (LoRA, another dataset folder, a seed, ...)
```bash
python recipes/sft.py --config recipes/configs/sft/qwen2.5-1.5b.yaml --dataset_config definition_pos \
    --output_dir out/q15-defpos --dataset_name ./stepinst --use_peft --lora_r 16 --lora_alpha 32 --learning_rate 2e-4
```

# Resume an interrupted run from its newest checkpoint
```bash
python recipes/sft.py --config recipes/configs/sft/qwen2.5-0.5b.yaml --dataset_config steps_ordered \
    --output_dir out/qwen2.5-0.5b-steps_ordered --resume_from_checkpoint True
```

# QLoRA (4-bit base model, needs CUDA + bitsandbytes)
```bash
python recipes/sft.py --config recipes/configs/sft/llama-3.1-8b.yaml --dataset_config steps_ordered \
    --output_dir out/llama-steps_ordered --load_in_4bit
```

# Several GPUs (the script runs unchanged under accelerate; keep 16 instances per step)
```bash
accelerate launch --config_file recipes/accelerate/zero3.yaml --num_processes 8 recipes/sft.py \
    --config recipes/configs/sft/llama-3.1-8b.yaml --dataset_config steps_ordered --output_dir out/llama-steps_ordered \
    --per_device_train_batch_size 2 --gradient_accumulation_steps 1
```
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass
class StepInstArguments:
    """How stepinst rows become training sequences.

    Args:
        truncation_side: where an instance that alone exceeds what the completion leaves of
            ``max_length`` is cut from (``Output:`` kept); every other prompt is fitted as Tk-Instruct
            does (examples, then steps dropped; never the instance).
        resample_step_order: re-draw shuffled steps with the training seed (default: on for ``steps_shuffled``).
        max_prompt_length: the prompt budget (Tk-Instruct's source length, 1,024, which evaluation fits
            to as well); a prompt also leaves room for its completion within ``max_length``.
        max_train_samples: train on the first N rows only (smoke tests).
        dataset_cache_dir: the datasets cache folder.
    """

    truncation_side: Literal["left", "right"] = field(default="left", metadata={"help": "side an instance longer than the budget is cut from"})
    resample_step_order: bool | None = field(default=None, metadata={"help": "re-draw shuffled steps per training seed (default: on for steps_shuffled)"})
    max_prompt_length: int = field(default=1024, metadata={"help": "prompt tokens kept (Tk-Instruct's source length; evaluation's too)"})
    max_train_samples: int | None = field(default=None, metadata={"help": "use only the first N training rows"})
    dataset_cache_dir: str | None = field(default=None, metadata={"help": "datasets cache folder"})


def build_trainer(script_args, training_args, model_args, data_args):
    """The recipe's ``SFTTrainer`` (checked arguments, tokenized rows, padding-free batching), not yet trained.

    ``main`` trains it; ``benchmarks/gpu.py`` times it, so the figures it prints are this recipe's.
    Returns the trainer, the tokenizer, the truncation report and whether a pad token was set.
    """
    from transformers import AutoTokenizer
    from trl import SFTTrainer, get_peft_config, get_quantization_config

    from stepinst_data.evaluation.training import (
        check_device, check_master_weights, ensure_pad_token, load_instance_split, require, step_order_seed, tokenize_causal,
    )

    check_device(training_args.bf16, training_args.fp16, model_args.load_in_4bit, model_args.load_in_8bit,
                 model_args.attn_implementation, training_args.use_cpu)
    require(model_args.model_name_or_path, script_args.dataset_name, script_args.dataset_config)
    check_master_weights(model_args.dtype, model_args.use_peft)
    training_args.model_init_kwargs = {
        "revision": model_args.model_revision,
        "dtype": model_args.dtype,
        "attn_implementation": model_args.attn_implementation,
        **(training_args.model_init_kwargs or {}),
    }

    tokenizer = AutoTokenizer.from_pretrained(model_args.model_name_or_path, revision=model_args.model_revision)
    pad_token_set = ensure_pad_token(tokenizer, model_args.model_name_or_path)
    rows = load_instance_split(script_args.dataset_name, script_args.dataset_config, script_args.dataset_train_split,
                               data_args.dataset_cache_dir)
    if data_args.max_train_samples is not None:
        rows = rows.select(range(min(data_args.max_train_samples, len(rows))))
    order_seed = step_order_seed(script_args.dataset_config, data_args.resample_step_order, training_args.seed)
    train_dataset, report = tokenize_causal(rows, tokenizer, training_args.max_length, data_args.truncation_side, order_seed,
                                            data_args.max_prompt_length)
    report.log(f"{script_args.dataset_config}/{script_args.dataset_train_split}")
    train_dataset = train_dataset.remove_columns("id")
    if training_args.completion_only_loss is None:
        training_args.completion_only_loss = True  # pre-tokenized rows: TRL cannot infer it from column names
    if training_args.padding_free and not training_args.packing:
        training_args.max_length = None  # already truncated above; TRL refuses a max_length it cannot enforce

    trainer = SFTTrainer(
        model=model_args.model_name_or_path,
        args=training_args,
        train_dataset=train_dataset,
        processing_class=tokenizer,
        peft_config=get_peft_config(model_args),
        quantization_config=get_quantization_config(model_args),
    )
    return trainer, tokenizer, report, pad_token_set


def main(script_args, training_args, model_args, data_args) -> None:
    from stepinst_data.evaluation.run_record import write_train_record
    from stepinst_data.evaluation.settings import compute_record, tokens_per_epoch, training_settings
    from stepinst_data.evaluation.training import config_flag, resolve_resume

    resume = resolve_resume(training_args.resume_from_checkpoint, training_args.output_dir)
    # before build_trainer: it hands TRL `max_length=None` once the rows are fitted (padding-free batches)
    settings = training_settings(training_args, script_args, model_args, data_args, recipe="sft",
                                 config_path=config_flag(), dataset=script_args.dataset_name)
    trainer, tokenizer, report, pad_token_set = build_trainer(script_args, training_args, model_args, data_args)
    output = trainer.train(resume_from_checkpoint=resume)
    trainer.save_model(training_args.output_dir)
    if trainer.accelerator.is_main_process:
        tokenizer.save_pretrained(training_args.output_dir)
        tokens = tokens_per_epoch(trainer.train_dataset, ("input_ids",))
        write_train_record(
            training_args.output_dir, recipe="sft", base_model=model_args.model_name_or_path,
            dataset=script_args.dataset_name, config=script_args.dataset_config, seed=training_args.seed,
            use_peft=model_args.use_peft, pad_token_set=pad_token_set, truncation=report.as_dict(),
            losses=_losses(trainer), resumed_from=resume,
            settings=settings,
            compute=compute_record(output, training_args, trainer.state.epoch or 0.0, tokens, resume is not None),
        )
    trainer.accelerator.print(f"model saved to {training_args.output_dir}")


def _losses(trainer) -> list[float]:
    return [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]


def make_parser():
    from trl import ModelConfig, ScriptArguments, SFTConfig, TrlParser

    return TrlParser((ScriptArguments, SFTConfig, ModelConfig, StepInstArguments))


if __name__ == "__main__":
    from stepinst_data.evaluation.training import run_recipe

    run_recipe(make_parser, main)
