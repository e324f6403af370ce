"""What the GPU benchmark derives from its clocks: step statistics, the GPU's busy share, generation that stops
at the references' lengths, and the projected wall time of the paper's grid."""

from __future__ import annotations

import statistics

# The paper's grid (issue 22): T5 base/large/xl x 4 configurations x 3 seeds; SUP-NATINST's 756 train tasks x 100
# instances / 16 per step x 2 epochs = 9,450 optimizer steps per run; each run evaluated on the official test split.
GRID_MODELS = ("t5-lm-adapt-base", "t5-lm-adapt-large", "t5-lm-adapt-xl")
GRID_CONFIGS = ("definition", "steps_ordered", "steps_shuffled", "steps_reversed")
GRID_SEEDS = 3
STEPS_PER_RUN = 756 * 100 // 16 * 2


def quantile(values: list[float], q: float) -> float:
    """The ``q`` quantile, linearly interpolated (``statistics.quantiles``' inclusive method)."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def step_statistics(durations: list[float]) -> dict:
    return {"p10": round(quantile(durations, 0.1), 5), "median": round(statistics.median(durations), 5),
            "p90": round(quantile(durations, 0.9), 5), "steps": len(durations)}


def busy_share(events, wall_us: float) -> float | None:
    """The share of ``wall_us`` during which at least one GPU kernel ran (overlapping kernels counted once).

    ``events`` are ``torch.profiler``'s ``FunctionEvent`` objects; None when none ran on a GPU (CPU runs).
    """
    from torch.autograd import DeviceType

    spans = sorted((e.time_range.start, e.time_range.end) for e in events
                   if getattr(e, "device_type", None) == DeviceType.CUDA)
    if not spans or wall_us <= 0:
        return None
    busy, (start, end) = 0.0, spans[0]
    for a, b in spans[1:]:
        if a > end:
            busy += end - start
            start, end = a, b
        else:
            end = max(end, b)
    busy += end - start
    return round(min(1.0, busy / wall_us), 4)


def stop_at_lengths_processor(targets, start: int, eos: int):
    """A logits processor that makes row i end with EOS after exactly ``targets[i]`` new tokens (EOS included).

    What a trained model that stops at its reference's length does to a batch's decoding time; random
    weights would otherwise never emit EOS (or emit it anywhere).
    """
    import torch
    from transformers import LogitsProcessor

    class StopAtLengths(LogitsProcessor):
        def __call__(self, input_ids, scores):
            made = input_ids.shape[1] - start
            wanted = torch.as_tensor(targets, device=scores.device)
            scores[wanted > made + 1, eos] = float("-inf")  # not yet: no EOS
            ending = wanted <= made + 1
            scores[ending] = float("-inf")
            scores[ending, eos] = 0.0
            return scores

    return StopAtLengths()


def paper_grid(models: list[dict]) -> dict:
    """Projected wall time of the 36-run grid on the measured device, from each T5 size's median step,
    start-up and evaluation (stopping at the references' lengths); null when a size was not measured."""
    by_name = {m["name"]: m for m in models}
    per_model, missing = {}, [name for name in GRID_MODELS if name not in by_name]
    runs_per_model = len(GRID_CONFIGS) * GRID_SEEDS
    for name in GRID_MODELS:
        if name not in by_name:
            continue
        train, evaluation = by_name[name]["train"], by_name[name]["eval"]
        run_s = (train["startup_s"] + STEPS_PER_RUN * train["step_seconds"]["median"]
                 + evaluation["stop_at_reference"]["projected_official_s"])
        per_model[name] = {"runs": runs_per_model, "seconds_per_run": round(run_s, 1),
                           "hours": round(runs_per_model * run_s / 3600, 3)}
    hours = None if missing else round(sum(m["hours"] for m in per_model.values()), 2)
    return {
        "hours": hours, "missing_models": missing, "per_model": per_model,
        "runs": len(GRID_MODELS) * runs_per_model, "steps_per_run": STEPS_PER_RUN,
        "assumes": "one run at a time on one GPU; each run = start-up + 9,450 x the median step + one evaluation of "
                   "the official test split stopping at the references' lengths; every configuration at the "
                   "steps_ordered lengths measured here (definition prompts are shorter, so an upper bound for them)",
    }
