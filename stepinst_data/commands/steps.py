"""``stepinst steps estimate|generate|batch``: step generation with any OpenAI-compatible server.

    stepinst steps estimate --natinst PATH --model gpt-4o-mini
    OPENAI_API_KEY=... stepinst steps generate --natinst PATH --model gpt-4o-mini --out steps.jsonl
    stepinst steps batch submit|status|collect --natinst PATH --model gpt-4o-mini --out steps.jsonl
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

logger = logging.getLogger(__name__)


def add_source_args(parser: argparse.ArgumentParser) -> None:
    """--natinst/--sample/--tasks/--model and the tokenizer/price options (shared with the judge)."""
    parser.add_argument("--natinst", help="SUP-NATINST checkout folder or archive URL")
    parser.add_argument("--sample", action="store_true", help="use the embedded sample's tasks")
    parser.add_argument("--tasks", default="all", help="all | train | test | FILE with one task name per line")
    parser.add_argument("--allow-missing-tasks", action="store_true", help="skip listed tasks that have no file")
    parser.add_argument("--cache-dir", help="cache for the parsed task table and tiktoken files")
    parser.add_argument("--model", required=True, help="model name sent to the server, e.g. gpt-4o-mini")
    parser.add_argument("--with-examples", action="store_true", help="show 2 positive examples in the prompt")
    parser.add_argument("--encoding", help="tiktoken encoding for counting (default: the model's)")
    parser.add_argument("--price-input", type=float, help="USD per 1M input tokens (overrides the table)")
    parser.add_argument("--price-output", type=float, help="USD per 1M output tokens (overrides the table)")
    parser.add_argument("--prices", help="JSON/YAML file {model: {input: USD, output: USD}} per 1M tokens")


def add_client_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base-url", help="OpenAI-compatible /v1 URL (default: $OPENAI_BASE_URL or OpenAI)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request before a retry")
    parser.add_argument("--max-retries", type=int, default=6, help="retries of one request on 429/5xx/timeouts")
    parser.add_argument("--backoff-base", type=float, default=1.0, help="first retry delay in seconds (doubles)")
    parser.add_argument("--temperature", type=float, default=0.0)
    parser.add_argument("--max-tokens", type=int, default=800, help="completion token limit per request")


def register(subparsers) -> None:
    steps = subparsers.add_parser("steps", help="generate step-by-step instructions with an OpenAI-compatible model")
    sub = steps.add_subparsers(dest="steps_command", required=True)

    estimate = sub.add_parser("estimate", help="tasks, tokens and price of a run; sends nothing")
    add_source_args(estimate)
    estimate.add_argument("--out", help="steps store: count only the tasks it does not hold yet")
    estimate.add_argument("--completion-tokens", type=int, help="expected completion tokens per task "
                          "(default: the mean of the --out store, else 200)")
    estimate.set_defaults(func=run_estimate)

    generate = sub.add_parser("generate", help="generate steps into a resumable store")
    add_source_args(generate)
    add_client_args(generate)
    _add_store_args(generate)
    generate.add_argument("--concurrency", type=int, default=32, help="requests in flight at once")
    generate.add_argument("--rpm", type=float, help="client-side limit: requests per minute")
    generate.add_argument("--tpm", type=float, help="client-side limit: tokens per minute")
    generate.add_argument("--max-attempts", type=int, default=4, help="answers per task before it goes to failures")
    generate.add_argument("--no-progress", action="store_true", help="no progress bar")
    generate.set_defaults(func=run_generate)

    batch = sub.add_parser("batch", help="the Batch API path (half price)")
    batch_sub = batch.add_subparsers(dest="batch_command", required=True)
    for name, func, text in (("submit", run_batch_submit, "upload requests and create a batch"),
                             ("status", run_batch_status, "show the batch's status"),
                             ("collect", run_batch_collect, "parse a finished batch into the store")):
        cmd = batch_sub.add_parser(name, help=text)
        add_source_args(cmd)
        add_client_args(cmd)
        _add_store_args(cmd)
        cmd.set_defaults(func=func)
        if name == "submit":
            cmd.add_argument("--force", action="store_true", help="submit even if the last batch is not collected")


def _add_store_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="steps store (JSONL), appended to and resumed from")
    parser.add_argument("--failures", help="failures file (default: <out>.failures.jsonl)")
    parser.add_argument("--allow-mixed", action="store_true", help="append to a store made with another model/prompt")
    parser.add_argument("--regenerate-stale", action="store_true", help="regenerate steps whose definition changed")


def load_selected_tasks(args: argparse.Namespace) -> list:
    from ..source.selection import load_tasks
    from ..sample import SAMPLE_NATINST

    if args.sample:
        args.natinst = args.natinst or str(SAMPLE_NATINST)
    if not args.natinst:
        raise ValueError("pass --natinst PATH_OR_URL (or --sample for the embedded sample)")
    if args.cache_dir:
        import os

        os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(Path(args.cache_dir) / "tiktoken"))
    return load_tasks(args.natinst, args.tasks, args.allow_missing_tasks, Path(args.cache_dir) if args.cache_dir else None)


def tokenizer_and_price(args: argparse.Namespace):
    from ..generation.tokens import encoding_name_for, get_encoding, resolve_price

    name, note = encoding_name_for(args.model, args.encoding)
    if note:
        logger.warning(note)
    price = resolve_price(args.model, args.price_input, args.price_output, args.prices)
    if price is None:
        logger.warning("no price for model %s: costs show as 0; pass --price-input/--price-output", args.model)
    return get_encoding(name), name, price


def client_config(args: argparse.Namespace):
    from ..generation.client import ClientConfig

    return ClientConfig(args.model, args.base_url, args.timeout, args.max_retries, args.backoff_base,
                        temperature=args.temperature, max_tokens=args.max_tokens)


def _version(args: argparse.Namespace) -> str:
    from ..generation.prompt import prompt_version

    return prompt_version(args.with_examples)


def run_estimate(args: argparse.Namespace) -> int:
    from ..generation.prompt import build_messages
    from ..generation.runner import plan_run
    from ..generation.tokens import count_message_tokens
    from ..stores.steps import scan_steps_store

    tasks = load_selected_tasks(args)
    encoding, enc_name, price = tokenizer_and_price(args)
    records = scan_steps_store(args.out)[0] if args.out and Path(args.out).exists() else {}
    plan = plan_run(tasks, records, args.model, _version(args), regenerate_stale=True)
    prompt = sum(count_message_tokens(build_messages(t, args.with_examples), encoding) for t in plan.todo)
    completion_each, basis = args.completion_tokens, "--completion-tokens"
    if completion_each is None:
        used = [r.usage["completion_tokens"] for r in records.values() if r.usage and r.usage.get("completion_tokens")]
        completion_each, basis = (round(sum(used) / len(used)), f"mean of {len(used)} records") if used else (200, "default")
    completion = completion_each * len(plan.todo)
    report = {
        "model": args.model, "encoding": enc_name, "prompt_version": _version(args),
        "tasks_selected": len(tasks), "tasks_done": len(plan.done), "tasks_stale": len(plan.stale),
        "tasks_to_generate": len(plan.todo), "prompt_tokens": prompt,
        "completion_tokens_estimate": completion, "completion_tokens_per_task": completion_each,
        "completion_basis": basis,
        "cost_usd": round(price.cost(prompt, completion), 4) if price else None,
        "cost_usd_batch_api": round(price.cost(prompt, completion, batch=True), 4) if price else None,
        "price_source": price.source if price else None,
    }
    print(json.dumps(report, indent=2))
    return 0


def run_generate(args: argparse.Namespace) -> int:
    from ..generation.client import make_async_client
    from ..generation.limiter import RateLimiter
    from ..generation.runner import Generator, failures_path_for, load_store_for_run, plan_run, run_coroutine
    from ..stores.jsonl import store_lock

    tasks = load_selected_tasks(args)
    encoding, enc_name, price = tokenizer_and_price(args)
    config, version, store = client_config(args), _version(args), Path(args.out)
    failures = Path(args.failures) if args.failures else failures_path_for(store)
    client = make_async_client(config)  # no key / unreachable URL: fail before touching the store
    store.parent.mkdir(parents=True, exist_ok=True)
    lock = store_lock(store).acquire()
    try:
        records = load_store_for_run(store, args.model, version, args.allow_mixed)
        plan = plan_run(tasks, records, args.model, version, args.regenerate_stale)
        _report_plan(plan, args.regenerate_stale)
        generator = Generator(
            config, store, failures, version, args.with_examples, encoding, price,
            args.concurrency, RateLimiter(args.rpm, args.tpm), args.max_attempts,
            progress=not args.no_progress,
        )
        stats = run_coroutine(_generate(generator, client, plan.todo))
    finally:
        lock.release()
    _print_report(stats, len(plan.done), enc_name, failures)
    return 0 if stats.failed == 0 else 2


async def _generate(generator, client, tasks):
    async with client:
        return await generator.run(client, tasks)


def _report_plan(plan, regenerate_stale: bool) -> None:
    logger.info("%d task(s) to generate, %d already done (skipped)", len(plan.todo), len(plan.done))
    if plan.stale:
        action = "regenerating them" if regenerate_stale else "pass --regenerate-stale to regenerate them"
        logger.warning("%d task(s) have stale steps (definition changed): %s; %s",
                       len(plan.stale), ", ".join(plan.stale[:10]), action)


def _print_report(stats, skipped: int, enc_name: str, failures: Path) -> None:
    ratio = stats.estimated_prompt_tokens / stats.prompt_tokens if stats.prompt_tokens else None
    report = {**stats.to_dict(), "skipped_done": skipped, "encoding": enc_name,
              "estimated_over_actual_prompt_tokens": round(ratio, 4) if ratio else None,
              "cost": round(stats.cost, 6)}
    print(json.dumps(report, indent=2))
    if stats.failed:
        print(f"{stats.failed} task(s) failed; see {failures}. Rerun the same command to retry them.", file=sys.stderr)


def run_batch_submit(args: argparse.Namespace) -> int:
    from ..generation.batch import submit
    from ..generation.client import make_sync_client
    from ..generation.runner import load_store_for_run, plan_run

    tasks = load_selected_tasks(args)
    encoding, _, price = tokenizer_and_price(args)
    config, version, store = client_config(args), _version(args), Path(args.out)
    client = make_sync_client(config)
    records = load_store_for_run(store, args.model, version, args.allow_mixed)
    plan = plan_run(tasks, records, args.model, version, args.regenerate_stale)
    _report_plan(plan, args.regenerate_stale)
    state = submit(client, plan.todo, store, config, version, args.with_examples, encoding, args.force)
    estimate = price.cost(state["estimated_prompt_tokens"], 0, batch=True) if price else None
    print(json.dumps({"batch_id": state["batch_id"], "requests": len(state["tasks"]),
                      "estimated_prompt_tokens": state["estimated_prompt_tokens"],
                      "estimated_prompt_cost_usd": estimate}, indent=2))
    return 0


def run_batch_status(args: argparse.Namespace) -> int:
    from ..generation.batch import status
    from ..generation.client import make_sync_client

    batch = status(make_sync_client(client_config(args)), Path(args.out))
    counts = batch.request_counts.model_dump() if batch.request_counts else None
    print(json.dumps({"batch_id": batch.id, "status": batch.status, "request_counts": counts}, indent=2))
    return 0


def run_batch_collect(args: argparse.Namespace) -> int:
    from ..generation.batch import collect
    from ..generation.client import make_sync_client
    from ..generation.runner import failures_path_for
    from ..stores.jsonl import store_lock

    tasks = load_selected_tasks(args)
    _, enc_name, price = tokenizer_and_price(args)
    store = Path(args.out)
    failures = Path(args.failures) if args.failures else failures_path_for(store)
    client = make_sync_client(client_config(args))
    lock = store_lock(store).acquire()
    try:
        stats = collect(client, store, {t.name: t.definition for t in tasks}, price, failures)
    finally:
        lock.release()
    _print_report(stats, 0, enc_name, failures)
    return 0 if stats.failed == 0 else 2
