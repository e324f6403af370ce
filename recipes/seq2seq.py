"""Fine-tuning an encoder-decoder model (T5 / T5-LM-adapt) on a stepinst configuration.

TRL trains causal LMs only; this recipe uses transformers' ``Seq2SeqTrainer`` with Tk-Instruct's
hyper-parameters as defaults: learning rate 5e-5, 2 epochs, constant schedule, source length 1024,
target length 128, bf16. Tokenization (and the truncation report) is shared with the other
recipes through :mod:`stepinst_data.evaluation.training`.

# One GPU
```bash
python recipes/seq2seq.py --config recipes/configs/t5-lm-adapt-xl/steps_ordered.yaml
```

# Override any YAML value on the command line
```bash
python recipes/seq2seq.py --config recipes/configs/t5-lm-adapt-base/definition.yaml \
    --dataset_name ./stepinst --output_dir out/t5-base-definition --num_train_epochs 1
```

# Several GPUs (Tk-Instruct trained the 3B/11B models with DeepSpeed)
```bash
accelerate launch --config_file recipes/accelerate/zero2.yaml recipes/seq2seq.py \
    --config recipes/configs/t5-lm-adapt-xl/steps_ordered.yaml
```
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from transformers import Seq2SeqTrainingArguments
from transformers.trainer_utils import SchedulerType


@dataclass
class Seq2SeqScriptArguments:
    """The model, the data, and how rows become encoder/decoder sequences.

    Args:
        model_name_or_path: a Hub id or a local folder of an encoder-decoder model.
        dataset_name: a folder built by ``stepinst build``, or a Hub id.
        dataset_config: the configuration to train on (``definition``, ``steps_ordered``, ...).
        max_source_length / max_target_length: Tk-Instruct's 1024 / 128 tokens.
        truncation_side: the side a too-long source loses tokens from (Tk-Instruct: ``right``).
    """

    model_name_or_path: str | None = field(default=None, metadata={"help": "model id or local folder"})
    dataset_name: str | None = field(default=None, metadata={"help": "dataset folder or Hub id"})
    dataset_config: str = field(default="steps_ordered", metadata={"help": "configuration name"})
    dataset_train_split: str = field(default="train", metadata={"help": "split to train on"})
    max_source_length: int = field(default=1024, metadata={"help": "encoder tokens (Tk-Instruct: 1024)"})
    max_target_length: int = field(default=128, metadata={"help": "decoder tokens (Tk-Instruct: 128)"})
    truncation_side: Literal["left", "right"] = field(default="right", metadata={"help": "side a too-long source is cut from"})
    max_train_samples: int | None = field(default=None, metadata={"help": "use only the first N training rows"})
    dataset_cache_dir: str | None = field(default=None, metadata={"help": "datasets cache folder"})


@dataclass
class TkInstructTrainingArguments(Seq2SeqTrainingArguments):
    """``Seq2SeqTrainingArguments`` with Tk-Instruct's defaults (Wang et al., 2022, section 5)."""

    learning_rate: float = field(default=5e-5, metadata={"help": "Tk-Instruct: 5e-5"})
    num_train_epochs: float = field(default=2.0, metadata={"help": "Tk-Instruct: 2"})
    lr_scheduler_type: SchedulerType | str = field(default="constant", metadata={"help": "Tk-Instruct: constant"})
    bf16: bool = field(default=True, metadata={"help": "bfloat16 mixed precision (needs a GPU; `--bf16 false` on CPU)"})
    logging_steps: float = field(default=10, metadata={"help": "log every N steps"})
    save_strategy: str = field(default="no", metadata={"help": "checkpoints during training (the final model is always saved)"})


def main(script_args, training_args) -> None:
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer, DataCollatorForSeq2Seq, Seq2SeqTrainer

    from stepinst_data.evaluation.training import (
        RecipeError, check_device, ensure_pad_token, load_instance_split, tokenize_seq2seq, write_run_info,
    )

    check_device(training_args.bf16, training_args.fp16, use_cpu=training_args.use_cpu)
    if not script_args.model_name_or_path or not script_args.dataset_name:
        raise RecipeError("set `model_name_or_path` and `dataset_name` (in the YAML or on the command line)")
    tokenizer = AutoTokenizer.from_pretrained(script_args.model_name_or_path)
    pad_token_set = ensure_pad_token(tokenizer, script_args.model_name_or_path)
    rows = load_instance_split(script_args.dataset_name, script_args.dataset_config, script_args.dataset_train_split,
                               script_args.dataset_cache_dir)
    try:
        model = AutoModelForSeq2SeqLM.from_pretrained(script_args.model_name_or_path)
    except ValueError as e:
        raise RecipeError(f"{script_args.model_name_or_path} is not an encoder-decoder model ({e}); "
                          "train causal LMs with recipes/sft.py") from e
    if script_args.max_train_samples is not None:
        rows = rows.select(range(min(script_args.max_train_samples, len(rows))))
    train_dataset, report = tokenize_seq2seq(rows, tokenizer, script_args.max_source_length,
                                             script_args.max_target_length, script_args.truncation_side)
    report.log(f"{script_args.dataset_config}/{script_args.dataset_train_split}")

    trainer = Seq2SeqTrainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        data_collator=DataCollatorForSeq2Seq(tokenizer, model=model, label_pad_token_id=-100),
        processing_class=tokenizer,
    )
    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_model(training_args.output_dir)
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(training_args.output_dir)
        losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
        write_run_info(
            training_args.output_dir, recipe="seq2seq", base_model=script_args.model_name_or_path,
            dataset=script_args.dataset_name, config=script_args.dataset_config, pad_token_set=pad_token_set,
            truncation=report.as_dict(), losses=losses,
        )


def make_parser():
    from trl import TrlParser  # an HfArgumentParser that reads `--config file.yaml` (unknown keys are errors)

    return TrlParser((Seq2SeqScriptArguments, TkInstructTrainingArguments))


if __name__ == "__main__":
    from stepinst_data.evaluation.training import run_recipe

    run_recipe(make_parser, main)
