"""Supervised fine-tuning of a causal LM on a stepinst configuration, with TRL's ``SFTTrainer``.

Rows are prompt/completion pairs tokenized by :mod:`stepinst_data.evaluation.training` (the prompt gives way
when too long, from ``truncation_side``), the loss is on the completion only, and sequences are
packed best-fit-decreasing into padding-free batches by default.

# One GPU, full fine-tuning
```bash
python recipes/sft.py --config recipes/configs/qwen2.5-0.5b/steps_ordered.yaml
```

# Any YAML value can be overridden on the command line (LoRA, another dataset folder, ...)
```bash
python recipes/sft.py --config recipes/configs/qwen2.5-1.5b/definition.yaml \
    --dataset_name ./stepinst --use_peft --lora_r 16 --lora_alpha 32 --learning_rate 2e-4
```

# QLoRA (4-bit base model, needs CUDA + bitsandbytes)
```bash
python recipes/sft.py --config recipes/configs/llama-3.1-8b/steps_ordered.yaml --use_peft --load_in_4bit
```

# Several GPUs (the script runs unchanged under accelerate)
```bash
accelerate launch --config_file recipes/accelerate/zero3.yaml recipes/sft.py \
    --config recipes/configs/llama-3.1-8b/steps_ordered.yaml
```
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass
class StepInstArguments:
    """How stepinst rows become training sequences.

    Args:
        truncation_side: the side a prompt loses tokens from when prompt + completion exceed
            ``max_length``. ``left`` keeps the instance and ``Output:`` next to the completion.
        max_train_samples: train on the first N rows only (smoke tests).
        dataset_cache_dir: the datasets cache folder.
    """

    truncation_side: Literal["left", "right"] = field(default="left", metadata={"help": "side a too-long prompt is cut from"})
    max_train_samples: int | None = field(default=None, metadata={"help": "use only the first N training rows"})
    dataset_cache_dir: str | None = field(default=None, metadata={"help": "datasets cache folder"})


def main(script_args, training_args, model_args, data_args) -> None:
    from transformers import AutoTokenizer
    from trl import SFTTrainer, get_peft_config, get_quantization_config

    from stepinst_data.evaluation.training import (
        RecipeError, check_device, ensure_pad_token, load_instance_split, tokenize_causal, write_run_info,
    )

    check_device(training_args.bf16, training_args.fp16, model_args.load_in_4bit, model_args.load_in_8bit,
                 model_args.attn_implementation, training_args.use_cpu)
    if not model_args.model_name_or_path or not script_args.dataset_name:
        raise RecipeError("set `model_name_or_path` and `dataset_name` (in the YAML or on the command line)")
    quantization_config = get_quantization_config(model_args)
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
    train_dataset, report = tokenize_causal(rows, tokenizer, training_args.max_length, data_args.truncation_side)
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
        quantization_config=quantization_config,
    )
    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_model(training_args.output_dir)
    if trainer.accelerator.is_main_process:
        tokenizer.save_pretrained(training_args.output_dir)
        write_run_info(
            training_args.output_dir, recipe="sft", base_model=model_args.model_name_or_path,
            dataset=script_args.dataset_name, config=script_args.dataset_config, use_peft=model_args.use_peft,
            pad_token_set=pad_token_set, truncation=report.as_dict(), losses=_losses(trainer),
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
