"""``stepinst steps estimate|generate|batch``: step generation with any OpenAI-compatible server.

    stepinst steps estimate --natinst PATH --model gpt-4o-mini
    OPENAI_API_KEY=... stepinst steps generate --natinst PATH --model gpt-4o-mini --steps steps.jsonl
    stepinst steps batch submit|status|collect --natinst PATH --model gpt-4o-mini --steps steps.jsonl
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from . import options
from .options import UNKNOWN_COST, client_config, load_selected_tasks, tokenizer_and_price

logger = logging.getLogger(__name__)



def register(subparsers) -> None:
    steps = options.add_command(
        subparsers, "steps", "generate step-by-step instructions for each task with an OpenAI-compatible model",
        examples=(
        "stepinst steps estimate --natinst PATH --model gpt-4o-mini --steps steps.jsonl",
        "OPENAI_API_KEY=... stepinst steps generate --natinst PATH --model gpt-4o-mini --steps steps.jsonl",
        "stepinst steps batch submit|status|collect --natinst PATH --model gpt-4o-mini --steps steps.jsonl",
    ),
    )
    sub = steps.add_subparsers(dest="steps_command", required=True)

    estimate = options.add_command(sub, "estimate", "count the tasks, tokens and price of a generation run; sends nothing")
    _add_generation_args(estimate)
    options.add_steps_store(estimate, "count only the tasks it does not hold yet")
    estimate.add_argument("--completion-tokens", type=int, help="expected completion tokens per task "
                          "(default: the mean of the --steps store's records, else 200)")
    estimate.set_defaults(func=run_estimate)

    generate = options.add_command(sub, "generate", "generate steps into a resumable steps store (rerun to resume)")
    _add_generation_args(generate)
    options.add_client(generate)
    _add_store_args(generate)
    options.add_pacing(generate, concurrency=32)
    generate.add_argument("--no-progress", action="store_true", help="no progress bar")
    generate.set_defaults(func=run_generate)

    batch = options.add_command(sub, "batch", "the Batch API path: half the price, results within 24 h")
    batch_sub = batch.add_subparsers(dest="batch_command", required=True)
    for name, func, text in (("submit", run_batch_submit, "upload the requests and create a batch"),
                             ("status", run_batch_status, "show the submitted batch's status"),
                             ("collect", run_batch_collect, "parse a finished batch into the steps store")):
        cmd = options.add_command(batch_sub, name, text)
        _add_generation_args(cmd)
        options.add_client(cmd)
        _add_store_args(cmd)
        cmd.set_defaults(func=func)
        if name == "submit":
            cmd.add_argument("--force", action="store_true", help="submit even if the last batch is not collected")


def _add_generation_args(parser: argparse.ArgumentParser) -> None:
    options.add_task_selection(parser)
    options.add_model(parser)


def _add_store_args(parser: argparse.ArgumentParser) -> None:
    options.add_steps_store(parser, "appended to and resumed from (created when missing)", required=True)
    parser.add_argument("--failures", help="failures file (default: <steps store>.failures.jsonl)")
    parser.add_argument("--allow-mixed", action="store_true", help="append to a store made with another model/prompt")
    parser.add_argument("--regenerate-stale", action="store_true", help="regenerate steps whose definition changed")


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
    records = scan_steps_store(args.steps)[0] if args.steps and Path(args.steps).exists() else {}
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
        "cost_usd": round(price.cost(prompt, completion), 4) if price else UNKNOWN_COST,
        "cost_usd_batch_api": round(price.cost(prompt, completion, batch=True), 4) if price else UNKNOWN_COST,
        "price_source": price.source if price else UNKNOWN_COST,
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
    config, version, store = client_config(args), _version(args), Path(args.steps)
    failures = Path(args.failures) if args.failures else failures_path_for(store)
    client = make_async_client(config)  # no key / unreachable URL: fail before touching the store
    with store_lock(store):  # the whole run: a second run on this store is refused, not interleaved
        records = load_store_for_run(store, args.model, version, args.allow_mixed)
        plan = plan_run(tasks, records, args.model, version, args.regenerate_stale)
        _report_plan(plan, args.regenerate_stale)
        generator = Generator(
            config, store, failures, version, args.with_examples, encoding, price,
            args.concurrency, RateLimiter(args.rpm, args.tpm), args.max_attempts,
            progress=not args.no_progress,
        )
        stats = run_coroutine(_generate(generator, client, plan.todo))
    _print_report(stats, len(plan.done), enc_name, failures, price)
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


def _print_report(stats, skipped: int, enc_name: str, failures: Path, price) -> None:
    ratio = stats.estimated_prompt_tokens / stats.prompt_tokens if stats.prompt_tokens else None
    report = {**stats.to_dict(), "skipped_done": skipped, "encoding": enc_name,
              "estimated_over_actual_prompt_tokens": round(ratio, 4) if ratio else None,
              "cost": round(stats.cost, 6) if price else UNKNOWN_COST}
    print(json.dumps(report, indent=2))
    if stats.failed:
        print(f"{stats.failed} task(s) failed; see {failures}. Rerun the same command to retry them.", file=sys.stderr)


def run_batch_submit(args: argparse.Namespace) -> int:
    from ..generation.batch import submit
    from ..generation.client import make_sync_client
    from ..generation.runner import load_store_for_run, plan_run
    from ..stores.jsonl import store_lock

    tasks = load_selected_tasks(args)
    encoding, _, price = tokenizer_and_price(args)
    config, version, store = client_config(args), _version(args), Path(args.steps)
    client = make_sync_client(config)
    with store_lock(store):  # one submit at a time: a second batch of the same tasks would be paid twice
        records = load_store_for_run(store, args.model, version, args.allow_mixed)
        plan = plan_run(tasks, records, args.model, version, args.regenerate_stale)
        _report_plan(plan, args.regenerate_stale)
        state = submit(client, plan.todo, store, config, version, args.with_examples, encoding, args.force)
    estimate = price.cost(state["estimated_prompt_tokens"], 0, batch=True) if price else UNKNOWN_COST
    print(json.dumps({"batch_id": state["batch_id"], "requests": len(state["tasks"]),
                      "estimated_prompt_tokens": state["estimated_prompt_tokens"],
                      "estimated_prompt_cost_usd": estimate}, indent=2))
    return 0


def run_batch_status(args: argparse.Namespace) -> int:
    from ..generation.batch import status
    from ..generation.client import make_sync_client

    batch = status(make_sync_client(client_config(args)), Path(args.steps))
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
    store = Path(args.steps)
    failures = Path(args.failures) if args.failures else failures_path_for(store)
    client = make_sync_client(client_config(args))
    with store_lock(store):
        stats = collect(client, store, {t.name: t.definition for t in tasks}, price, failures)
    _print_report(stats, 0, enc_name, failures, price)
    return 0 if stats.failed == 0 else 2
