"""The words of the ``stepinst`` command line, each defined once with one help text.

Every command speaks the same vocabulary: ``--natinst`` (a SUP-NATINST folder or archive URL),
``--sample`` (the embedded sample), ``--steps`` (the steps store), ``--ratings`` (the ratings
store), ``--out`` (what the command writes, never a store it appends to), ``--repo`` (a Hub
dataset repo), ``--cache-dir`` and ``--num-proc``. Every option shows its default in ``--help``.

The helpers at the end turn the shared flags into library objects (the corpus, the selected
tasks, the tokenizer and price, the client configuration), so no command imports another.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from ..generation.client import ClientConfig
from ..stores.steps import StepsLimits

NATINST_HELP = (
    "SUP-NATINST: a checkout folder (tasks/ and splits/) or the URL of the repository archive, "
    "downloaded once into --cache-dir"
)
CACHE_DIR_HELP = "where downloaded archives and the parsed task table are kept (default: $STEPINST_CACHE or ~/.cache/stepinst)"


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Descriptions keep their line breaks (they hold example commands); an option with a default
    shows it. An option without one (None) says itself, in its help, what happens when absent."""

    def _get_help_string(self, action: argparse.Action) -> str:
        help_text = action.help or ""
        if action.default is None or action.default is False or action.default == argparse.SUPPRESS or "default:" in help_text:
            return help_text
        return super()._get_help_string(action)

    def _format_usage(self, usage: Any, actions: Any, groups: Any, prefix: Any) -> str:
        """A required flag whose old spelling is a positional shows as required (argparse brackets it:
        the two sit in one group, but the usage lists positionals apart from flags)."""
        text = super()._format_usage(usage, actions, groups, prefix)
        for action in actions:
            if getattr(action, "shown_required", False):
                part = f"{action.option_strings[0]} {self._format_args(action, action.dest.upper())}"
                text = text.replace(f"[{part}]", part)
        return text


def add_command(subparsers: Any, name: str, help: str, examples: tuple[str, ...] = (),
                description: str | None = None) -> argparse.ArgumentParser:
    """A subcommand whose ``--help`` shows every default: ``help`` is its line in the parent's list
    and (unless a longer ``description`` is given), with the ``examples`` (command lines), its description."""
    description = description or help[:1].upper() + help[1:] + "."
    if examples:
        description += "\n\nexamples:\n" + "\n".join(f"  {line}" for line in examples)
    return subparsers.add_parser(name, help=help, description=description, formatter_class=HelpFormatter)


def _int_at_least(minimum: int, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer; give a whole number >= {minimum}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"{value} is not allowed; give a whole number >= {minimum}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (0 or -3 processes is a typo, not a request)."""
    return _int_at_least(1, text)


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0 (a count)."""
    return _int_at_least(0, text)


# -- the shared flags ------------------------------------------------------------------------

def add_corpus(parser: argparse.ArgumentParser, sample_gives: str = "tasks", required: bool = True) -> None:
    """``--natinst``, ``--sample`` and ``--cache-dir``: where the tasks come from."""
    absent = "required unless --sample" if required else "without it and --steps, task names are not checked"
    parser.add_argument("--natinst", help=f"{NATINST_HELP} (default: none; {absent})")
    parser.add_argument("--sample", action="store_true",
                        help=f"use the embedded 12-task sample's {sample_gives} for the inputs not given")
    parser.add_argument("--cache-dir", help=CACHE_DIR_HELP)


def add_allow_missing_tasks(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--allow-missing-tasks", action="store_true",
                        help="skip tasks listed in the splits that have no task file (instead of refusing)")


def add_num_proc(parser: argparse.ArgumentParser, what: str = "parse task files") -> None:
    parser.add_argument("--num-proc", type=positive_int, default=1, help=f"processes that {what}")


def _add_store(parser: argparse.ArgumentParser, flag: str, what: str, role: str, required: bool) -> None:
    help_text = f"{what}: {role}" + ("" if required else " (default: none)")
    parser.add_argument(flag, required=required, help=help_text)


def add_steps_store(parser: argparse.ArgumentParser, role: str, required: bool = False) -> None:
    """``--steps``: the steps store (JSONL, one record per task); ``role`` says what the command does with it."""
    _add_store(parser, "--steps", "the steps store (JSONL, one record per task)", role, required)


def add_ratings_store(parser: argparse.ArgumentParser, role: str, required: bool = False) -> None:
    """``--ratings``: the ratings store (JSONL, rubric header + one record per task x annotator)."""
    _add_store(parser, "--ratings", "the ratings store (JSONL, one record per task x annotator)", role, required)


def add_out(parser: argparse.ArgumentParser, what: str, default: str | None = None) -> None:
    """``--out``: what the command writes (never a store it appends to)."""
    parser.add_argument("--out", default=default, help=what if default else f"{what} (default: none)")


def add_repo(parser: argparse.ArgumentParser, role: str, required: bool = False) -> None:
    """``--repo``: a Hub dataset repo id."""
    parser.add_argument("--repo", required=required, help=f"Hugging Face dataset repo id, ORG/NAME: {role}")


def resolve_corpus(args: argparse.Namespace, stores: tuple[str, ...] = (), required: bool = True) -> None:
    """Fill ``--natinst`` (and the named ``stores``: "steps", "ratings") from the sample when
    ``--sample`` is given and they are not; refuse a command with no corpus when ``required``."""
    if args.sample:
        from ..sample import SAMPLE_NATINST, SAMPLE_RATINGS, SAMPLE_STEPS

        sample = {"natinst": SAMPLE_NATINST, "steps": SAMPLE_STEPS, "ratings": SAMPLE_RATINGS}
        for name in ("natinst", *stores):
            if getattr(args, name) is None:
                setattr(args, name, str(sample[name]))
    if required and not args.natinst:
        raise ValueError("pass --natinst PATH_OR_URL (a SUP-NATINST checkout or archive URL), or --sample for the embedded sample")


def add_build_inputs(parser: argparse.ArgumentParser) -> None:
    """The inputs of a build (shared with ``validate``, which checks the same inputs)."""
    add_corpus(parser, "tasks, steps and ratings")
    add_steps_store(parser, "the steps of each task (read; needed by the steps_* configs)")
    add_ratings_store(parser, "the human ratings (read; needed by steps_ordered_hq and ratings)")
    add_allow_missing_tasks(parser)
    parser.add_argument("--skip-empty-tasks", action="store_true",
                        help="skip listed tasks whose Instances list is empty (default: refuse them); "
                             "they are listed in the build summary, manifest and card")
    limits = StepsLimits()
    parser.add_argument("--max-num-steps-per-task", type=positive_int, default=limits.max_num_steps_per_task,
                        help="refuse a task whose steps record holds more steps (every prompt of the task repeats them)")
    parser.add_argument("--max-chars-per-step", type=positive_int, default=limits.max_chars_per_step,
                        help="refuse a task with a longer step (characters)")


def steps_limits(args: argparse.Namespace) -> StepsLimits:
    """The steps limits of ``--max-num-steps-per-task`` / ``--max-chars-per-step``."""
    return StepsLimits(args.max_num_steps_per_task, args.max_chars_per_step)


# -- model, tokens and client (steps generation and the LLM judge) ---------------------------

def add_task_selection(parser: argparse.ArgumentParser) -> None:
    """The corpus and which of its tasks a generation run covers."""
    add_corpus(parser, "tasks")
    parser.add_argument("--tasks", default="all", help="all | train | test | FILE with one task name per line")
    add_allow_missing_tasks(parser)
    add_num_proc(parser)


def add_model(parser: argparse.ArgumentParser, with_examples: bool = True) -> None:
    """The model, the prompt variant (``with_examples``: the steps prompt has one; the judge's has
    none) and how tokens are counted and priced."""
    parser.add_argument("--model", required=True, help="model name sent to the server, e.g. gpt-4o-mini")
    if with_examples:
        parser.add_argument("--with-examples", action="store_true",
                            help="show 2 positive examples of each task in the steps prompt (another prompt version)")
    parser.add_argument("--encoding", help="tiktoken encoding for counting tokens (default: the model's)")
    parser.add_argument("--price-input", type=float, help="USD per 1M input tokens (default: the price table's)")
    parser.add_argument("--price-output", type=float, help="USD per 1M output tokens (default: the price table's)")
    parser.add_argument("--prices", help="JSON/YAML file {model: {input: USD, output: USD}} per 1M tokens (default: none)")


def add_client(parser: argparse.ArgumentParser) -> None:
    """How to reach the model; the defaults are :class:`ClientConfig`'s."""
    parser.add_argument("--base-url", help="OpenAI-compatible /v1 URL (default: $OPENAI_BASE_URL, else OpenAI)")
    parser.add_argument("--timeout", type=float, default=ClientConfig.timeout, help="seconds per request before a retry")
    parser.add_argument("--max-retries", type=int, default=ClientConfig.max_retries,
                        help="retries of one request on 429/5xx/timeouts")
    parser.add_argument("--backoff-base", type=float, default=ClientConfig.backoff_base,
                        help="first retry delay in seconds (doubles at each retry)")
    parser.add_argument("--temperature", type=float, default=ClientConfig.temperature, help="sampling temperature")
    parser.add_argument("--max-tokens", type=int, default=ClientConfig.max_tokens, help="completion token limit per request")


def add_pacing(parser: argparse.ArgumentParser, concurrency: int) -> None:
    parser.add_argument("--concurrency", type=positive_int, default=concurrency, help="requests in flight at once")
    parser.add_argument("--rpm", type=float, help="client-side limit: requests per minute (default: no limit)")
    parser.add_argument("--tpm", type=float, help="client-side limit: tokens per minute (default: no limit)")
    parser.add_argument("--max-attempts", type=positive_int, default=4,
                        help="answers asked per task before it goes to the failures file")


def load_selected_tasks(args: argparse.Namespace) -> list:
    """The tasks of ``--tasks`` in the corpus of ``--natinst``/``--sample``."""
    from ..source.selection import load_tasks

    resolve_corpus(args)
    if args.cache_dir:
        os.environ.setdefault("TIKTOKEN_CACHE_DIR", os.path.join(args.cache_dir, "tiktoken"))
    return load_tasks(args.natinst, args.tasks, args.allow_missing_tasks, args.cache_dir, args.num_proc)


UNKNOWN_COST = "unknown (no price for this model: pass --price-input and --price-output)"
"""What a cost field holds when the model has no price: the words, never a 0 or a null."""


def tokenizer_and_price(args: argparse.Namespace) -> tuple[Any, str, Any]:
    """(tiktoken encoding, its name, the price or None) for ``--model``/``--encoding``/prices."""
    import logging

    from ..generation.tokens import encoding_name_for, get_encoding, resolve_price

    logger = logging.getLogger(__name__)
    name, note = encoding_name_for(args.model, args.encoding)
    if note:
        logger.warning(note)
    price = resolve_price(args.model, args.price_input, args.price_output, args.prices)
    if price is None:
        logger.warning("no price for model %s: costs show as %r; pass --price-input and --price-output "
                       "(USD per 1M tokens) or --prices FILE", args.model, UNKNOWN_COST)
    return get_encoding(name), name, price


def client_config(args: argparse.Namespace) -> ClientConfig:
    return ClientConfig(args.model, args.base_url, args.timeout, args.max_retries, args.backoff_base,
                        temperature=args.temperature, max_tokens=args.max_tokens)
