"""Fine-tuning an encoder-decoder model (T5 / T5-LM-adapt) on a stepinst configuration.

TRL trains causal LMs only; this recipe uses transformers' ``Seq2SeqTrainer`` with Tk-Instruct's
hyper-parameters as defaults: learning rate 5e-5, 2 epochs, constant schedule, source length 1024,
target length 128, bf16 compute on fp32 weights; instances drawn at random, as Tk-Instruct
(``--train_sampling_strategy group_by_length`` is an opt-in speed flag: less padding, but a step of
16 then holds about half as many distinct tasks; the run record names the sampler). Tokenization
(and the fitting of prompts to the source length) is shared with the other recipes
through :mod:`stepinst_data.evaluation.training`.

# One GPU: a model's recipe, the dataset configuration on the command line
```bash
python recipes/seq2seq.py --config recipes/configs/seq2seq/t5-lm-adapt-xl.yaml \
    --dataset_config steps_ordered --output_dir out/t5-xl-steps_ordered
```

# Override any YAML value; resume an interrupted run from its newest checkpoint
```bash
python recipes/seq2seq.py --config recipes/configs/seq2seq/t5-lm-adapt-base.yaml --dataset_config definition \
    --dataset_name ./stepinst --output_dir out/t5-base-definition --num_train_epochs 1 --resume_from_checkpoint True
```

# Several GPUs (Tk-Instruct trained the 3B/11B models with DeepSpeed); keep 16 instances per step
```bash
accelerate launch --config_file recipes/accelerate/zero2.yaml --num_processes 8 recipes/seq2seq.py \
    --config recipes/configs/seq2seq/t5-lm-adapt-xl.yaml --dataset_config steps_ordered --output_dir out/t5-xl-steps_ordered \
    --per_device_train_batch_size 2 --gradient_accumulation_steps 1
```
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass
class Seq2SeqScriptArguments:
    """The model, the data, and how rows become encoder/decoder sequences.

    Args:
        model_name_or_path: a Hub id or a local folder of an encoder-decoder model.
        dataset_name: a folder built by ``stepinst build``, or a Hub id.
        dataset_config: the configuration to train on (``definition``, ``steps_ordered``, ...).
        max_source_length / max_target_length: Tk-Instruct's 1024 / 128 tokens.
        truncation_side: where an instance that alone exceeds ``max_source_length`` is cut from; every
            other source is fitted as Tk-Instruct does (examples, then steps dropped; never the instance).
        resample_step_order: re-draw shuffled steps with the training seed (default: on for ``steps_shuffled``).
    """

    model_name_or_path: str | None = field(default=None, metadata={"help": "model id or local folder"})
    dataset_name: str | None = field(default=None, metadata={"help": "dataset folder or Hub id"})
    dataset_config: str | None = field(default=None, metadata={"help": "configuration name (definition, steps_ordered, ...)"})
    dataset_train_split: str = field(default="train", metadata={"help": "split to train on"})
    max_source_length: int = field(default=1024, metadata={"help": "encoder tokens (Tk-Instruct: 1024)"})
    max_target_length: int = field(default=128, metadata={"help": "decoder tokens (Tk-Instruct: 128)"})
    truncation_side: Literal["left", "right"] = field(default="right", metadata={"help": "side an instance longer than the source length is cut from"})
    resample_step_order: bool | None = field(default=None, metadata={"help": "re-draw shuffled steps per training seed (default: on for steps_shuffled)"})
    max_train_samples: int | None = field(default=None, metadata={"help": "use only the first N training rows"})
    dataset_cache_dir: str | None = field(default=None, metadata={"help": "datasets cache folder"})
    pad_to_multiple_of: int | None = field(default=None, metadata={"help": "pad batches to a multiple of N tokens (length buckets for `--torch_compile`)"})


def tk_instruct_training_arguments():
    """``Seq2SeqTrainingArguments`` with Tk-Instruct's defaults (Wang et al., 2022, section 5).

    Built on first use so that importing this script does not import transformers' training stack;
    published as a module attribute so that the Trainer can pickle it into ``training_args.bin``.
    """
    if "TkInstructTrainingArguments" in globals():
        return globals()["TkInstructTrainingArguments"]
    from transformers import Seq2SeqTrainingArguments

    @dataclass
    class TkInstructTrainingArguments(Seq2SeqTrainingArguments):
        learning_rate: float = field(default=5e-5, metadata={"help": "Tk-Instruct: 5e-5"})
        num_train_epochs: float = field(default=2.0, metadata={"help": "Tk-Instruct: 2"})
        lr_scheduler_type: str = field(default="constant", metadata={"help": "Tk-Instruct: constant"})
        bf16: bool = field(default=True, metadata={"help": "bf16 compute on fp32 weights (needs a GPU; `--bf16 false` on CPU)"})
        train_sampling_strategy: str = field(default="random", metadata={"help": "random (Tk-Instruct); group_by_length: less padding, fewer distinct tasks per step"})
        logging_steps: float = field(default=10, metadata={"help": "log every N steps"})
        save_total_limit: int | None = field(default=2, metadata={"help": "checkpoints kept to resume from"})

    TkInstructTrainingArguments.__qualname__ = "TkInstructTrainingArguments"
    globals()["TkInstructTrainingArguments"] = TkInstructTrainingArguments
    return TkInstructTrainingArguments


def build_trainer(script_args, training_args):
    """The recipe's ``Seq2SeqTrainer`` (checked arguments, tokenized rows, length-grouped batches), not yet trained.

    ``main`` trains it; ``benchmarks/gpu.py`` times it, so the figures it prints are this recipe's.
    Returns the trainer, the tokenizer, the truncation report and whether a pad token was set.
    """
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer, DataCollatorForSeq2Seq, Seq2SeqTrainer

    from stepinst_data.evaluation.training import (
        RecipeError, check_device, ensure_pad_token, load_instance_split, require, step_order_seed, token_mean_loss,
        tokenize_seq2seq,
    )

    check_device(training_args.bf16, training_args.fp16, use_cpu=training_args.use_cpu)
    require(script_args.model_name_or_path, script_args.dataset_name, script_args.dataset_config)
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
    order_seed = step_order_seed(script_args.dataset_config, script_args.resample_step_order, training_args.seed)
    train_dataset, report = tokenize_seq2seq(rows, tokenizer, script_args.max_source_length,
                                             script_args.max_target_length, script_args.truncation_side, order_seed)
    report.log(f"{script_args.dataset_config}/{script_args.dataset_train_split}")

    trainer = Seq2SeqTrainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        data_collator=DataCollatorForSeq2Seq(tokenizer, model=model, label_pad_token_id=-100,
                                             pad_to_multiple_of=script_args.pad_to_multiple_of),
        processing_class=tokenizer,
        compute_loss_func=token_mean_loss,  # the step's token mean for every batch layout (T5's own loss is not)
    )
    return trainer, tokenizer, report, pad_token_set


def main(script_args, training_args) -> None:
    from stepinst_data.evaluation.run_record import write_train_record
    from stepinst_data.evaluation.settings import compute_record, tokens_per_epoch, training_settings
    from stepinst_data.evaluation.training import config_flag, resolve_resume

    resume = resolve_resume(training_args.resume_from_checkpoint, training_args.output_dir)
    settings = training_settings(training_args, script_args, recipe="seq2seq", config_path=config_flag(),
                                 dataset=script_args.dataset_name)
    trainer, tokenizer, report, pad_token_set = build_trainer(script_args, training_args)
    output = trainer.train(resume_from_checkpoint=resume)
    trainer.save_model(training_args.output_dir)
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(training_args.output_dir)
        losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
        tokens = tokens_per_epoch(trainer.train_dataset, ("input_ids", "labels"))
        write_train_record(
            training_args.output_dir, recipe="seq2seq", base_model=script_args.model_name_or_path,
            dataset=script_args.dataset_name, config=script_args.dataset_config, seed=training_args.seed,
            pad_token_set=pad_token_set, truncation=report.as_dict(), losses=losses, resumed_from=resume,
            settings=settings,
            compute=compute_record(output, training_args, trainer.state.epoch or 0.0, tokens, resume is not None),
        )


def make_parser():
    from trl import TrlParser  # an HfArgumentParser that reads `--config file.yaml` (unknown keys are errors)

    return TrlParser((Seq2SeqScriptArguments, tk_instruct_training_arguments()))


if __name__ == "__main__":
    from stepinst_data.evaluation.training import run_recipe

    run_recipe(make_parser, main)
