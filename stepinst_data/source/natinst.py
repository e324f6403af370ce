"""Read SUP-NATINST task files into normalized tasks.

The upstream files come in several schema versions (``Definition``/``Categories`` as a list or a
plain string, instances with or without ``id``, optional ``URL``/``Reasoning``/``Instance
License``). Everything downstream sees one shape: :class:`Task`. Sampling follows the official
rules: the test split keeps each test task's first ``max_num_instances_per_eval_task`` instances
(the official evaluation), train tasks keep a seeded sample of ``max_num_instances_per_task``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from .text_checks import NatInstError, check_encodable, check_text_fields

logger = logging.getLogger(__name__)

SPLIT_FILES = {"train": "train_tasks.txt", "test": "test_tasks.txt"}
REQUIRED_KEYS = ("Definition", "Categories", "Positive Examples", "Instances")


@dataclass
class Example:
    input: str
    output: str
    explanation: str = ""


@dataclass
class Instance:
    id: str
    input: str
    outputs: list[str]


@dataclass
class Task:
    """One task, normalized across schema versions, holding only its sampled instances."""

    name: str
    split: str
    definition: str
    categories: list[str]
    positive_examples: list[Example]
    negative_examples: list[Example]
    instances: list[Instance]
    num_instances_total: int
    source: list[str] = field(default_factory=list)
    url: list[str] = field(default_factory=list)
    domains: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    instance_license: list[str] = field(default_factory=list)
    schema: str = "current"

    @property
    def category(self) -> str:
        """The official evaluation groups tasks by their first category."""
        return self.categories[0]

    @property
    def definition_sha256(self) -> str:
        return definition_sha256(self.definition)


@dataclass(frozen=True)
class Sampling:
    """How many instances each task keeps; part of the cache key of the task table."""

    max_num_instances_per_task: int | None = 100
    max_num_instances_per_eval_task: int | None = 100
    seed: int = 42


def definition_sha256(definition: str) -> str:
    """Hex sha256 of the UTF-8 bytes of the definition text, exactly as in the file."""
    return hashlib.sha256(definition.encode("utf-8")).hexdigest()


def check_task_name(name: str, where: str) -> str:
    """Refuse names that would escape the tasks folder (path separators, ``..``)."""
    if (not name or "/" in name or "\\" in name or ".." in name or name != name.strip()
            or not name.isprintable()):
        raise NatInstError(
            f"{where}: invalid task name {name!r}: task names may not be empty or contain '/', "
            "'\\', '..', control characters or surrounding spaces. Fix the split list."
        )
    return name


def read_split_list(path: Path) -> list[str]:
    """Task names of one split list, one per line, verbatim (some are misspelled upstream).

    A name listed twice is refused: its rows would be built twice (duplicate ids in the references).
    """
    lines: dict[str, list[int]] = {}
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte order mark is the editor's, not a name's
    except UnicodeDecodeError as e:
        raise NatInstError(f"{path}: not UTF-8 ({e.reason} at byte {e.start}); re-save the split list as UTF-8") from None
    for lineno, line in enumerate(text.split("\n"), start=1):  # \n, \r\n, \r (text mode); not U+2028 &c.
        name = line.strip()
        if name:
            lines.setdefault(check_task_name(name, f"{path}:{lineno}"), []).append(lineno)
    repeated = {name: numbers for name, numbers in lines.items() if len(numbers) > 1}
    if repeated:
        shown = "; ".join(f"{name!r} on lines {', '.join(map(str, numbers))}" for name, numbers in list(repeated.items())[:5])
        more = f"; ... (and {len(repeated) - 5} more)" if len(repeated) > 5 else ""
        raise NatInstError(
            f"{path}: {len(repeated)} task(s) listed more than once: {shown}{more}; a task is listed once "
            "(twice would build its rows twice). Delete the repeated line(s)."
        )
    return list(lines)


def read_splits(root: Path, split_name: str = "default") -> dict[str, list[str]]:
    """The English-track train/test task lists of a SUP-NATINST checkout."""
    split_dir = root / "splits" / split_name
    splits = {}
    for split, filename in SPLIT_FILES.items():
        path = split_dir / filename
        if not path.is_file():
            raise NatInstError(
                f"{path} not found: --natinst must point at a SUP-NATINST checkout holding "
                f"tasks/ and splits/{split_name}/{{train,test}}_tasks.txt."
            )
        splits[split] = read_split_list(path)
    overlap = set(splits["train"]) & set(splits["test"])
    if overlap:
        raise NatInstError(f"{split_dir}: tasks listed in both train and test: {sorted(overlap)}")
    return splits


def _as_list(value: Any) -> list[str]:
    """Old files hold plain strings where new ones hold lists; NaN (task162's URL) is dropped."""
    if value is None:
        return []
    values = value if isinstance(value, list) else [value]
    return [str(v) for v in values if not (isinstance(v, float) and math.isnan(v))]


def _has_reference(output: Any) -> bool:
    """At least one reference that is not blank (a string, or a list holding one)."""
    if type(output) is list:  # the first reference is nearly always filled: test it before a scan
        first = output[0] if output else None
        return type(first) is str and bool(first.strip()) or any(type(o) is str and o.strip() for o in output)
    return isinstance(output, str) and bool(output.strip())


def _text(value: Any) -> str:
    if isinstance(value, list):  # a few example outputs are single-element lists
        return str(value[0]) if value else ""
    return "" if value is None else str(value)


def _examples(raw: Any, path: Path, key: str) -> list[Example]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise NatInstError(f"{path}: {key!r} must be a list of {{input, output, explanation}}")
    examples = []
    for i, ex in enumerate(raw):
        if not isinstance(ex, dict) or "input" not in ex or "output" not in ex:
            raise NatInstError(f"{path}: {key}[{i}] needs 'input' and 'output' keys")
        examples.append(Example(_text(ex["input"]), _text(ex["output"]), _text(ex.get("explanation"))))
    return examples


def derived_instance_id(task_name: str, index: int, text: str) -> str:
    """A stable id for old-schema instances, shaped like upstream ids (``taskNNN-<32 hex>``)."""
    prefix = task_name.split("_", 1)[0]
    digest = hashlib.sha256(f"{task_name}\0{index}\0{text}".encode("utf-8")).hexdigest()[:32]
    return f"{prefix}-{digest}"


def _instances(raw: Any, path: Path, task_name: str, keep: list[int] | None = None) -> list[Instance]:
    """Validate every instance (ids unique, outputs non-empty) but build only the kept ones.

    Upstream files hold up to ~6,500 instances of which at most 100 are kept, so the checks run
    over plain values and objects are made for the sample only.
    """
    if not isinstance(raw, list):
        raise NatInstError(f"{path}: 'Instances' must be a list")
    ids = []
    for i, inst in enumerate(raw):
        try:
            output, text, inst_id = inst["output"], inst["input"], inst.get("id")
        except (KeyError, TypeError, AttributeError):
            raise NatInstError(f"{path}: Instances[{i}] needs 'input' and 'output' keys") from None
        if inst_id is None:
            inst_id = derived_instance_id(task_name, i, str(text))
        elif type(inst_id) is not str or not inst_id.strip():
            raise NatInstError(
                f"{path}: task {task_name}, Instances[{i}]: 'id' is {json.dumps(inst_id)[:40]}; an instance id is a "
                "non-empty JSON string (old files leave it out, and stepinst derives one). Fix the task file."
            )
        if not _has_reference(output):
            raise NatInstError(
                f"{path}: instance {inst_id} (Instances[{i}]) has an empty 'output': every "
                "instance needs at least one non-empty reference. Fix or remove it."
            )
        ids.append(str(inst_id))
    if len(set(ids)) != len(ids):
        first: dict[str, int] = {}
        for i, inst_id in enumerate(ids):
            if inst_id in first:
                raise NatInstError(
                    f"{path}: duplicate instance id {inst_id!r} at Instances[{first[inst_id]}] and "
                    f"Instances[{i}]; instance ids must be unique within a task."
                )
            first[inst_id] = i
    indices = range(len(raw)) if keep is None else keep
    return [Instance(ids[i], str(raw[i]["input"]), _as_list(raw[i]["output"])) for i in indices]


def sample_indices(task_name: str, split: str, total: int, sampling: Sampling) -> list[int]:
    """Indices of the kept instances, in file order.

    test: the first N (the official evaluation); train/validation: a sample of N seeded by
    (seed, task name), so every build of the same inputs keeps the same instances.
    """
    if split == "test":
        limit = sampling.max_num_instances_per_eval_task
        return list(range(total if limit is None else min(total, limit)))
    limit = sampling.max_num_instances_per_task
    if limit is None or total <= limit:
        return list(range(total))
    rng = random.Random(f"{sampling.seed}:{task_name}")
    return sorted(rng.sample(range(total), limit))


def parse_task(data: dict[str, Any], path: Path, name: str, split: str, sampling: Sampling) -> Task:
    """Normalize one decoded task file and keep only its sampled instances."""
    if not isinstance(data, dict):
        raise NatInstError(f"{path}: a task file must hold a JSON object, found {type(data).__name__}")
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise NatInstError(f"{path}: missing required key(s) {missing}; is this a SUP-NATINST task file?")
    check_text_fields(data, path, name)
    check_encodable(data, path, name)
    definitions = _as_list(data["Definition"])
    categories = _as_list(data["Categories"])
    if not definitions or not definitions[0].strip():
        raise NatInstError(f"{path}: 'Definition' is empty")
    if not categories:
        raise NatInstError(f"{path}: 'Categories' is empty")
    raw_instances = data["Instances"]
    total = len(raw_instances) if isinstance(raw_instances, list) else 0
    kept = sample_indices(name, split, total, sampling)
    instances = _instances(raw_instances, path, name, kept)  # first: it refuses a non-list or a non-object
    old = isinstance(data["Definition"], str) or any("id" not in i for i in raw_instances[:1])
    return _task(
        name, split, data.get,
        _examples(data["Positive Examples"], path, "Positive Examples"),
        _examples(data.get("Negative Examples"), path, "Negative Examples"),
        instances, total, old,
    )


def _task(name: str, split: str, get: Callable[[str], Any], positive: list[Example], negative: list[Example],
          instances: list[Instance], total: int, old: bool) -> Task:
    """The one place a :class:`Task` is made, from a checked file's keys (``get``, by upstream key
    name) and its parsed examples and kept instances: both readers normalize alike."""
    return Task(
        name=name,
        split=split,
        definition=_as_list(get("Definition"))[0],
        categories=_as_list(get("Categories")),
        positive_examples=positive,
        negative_examples=negative,
        instances=instances,
        num_instances_total=total,
        source=_as_list(get("Source")),
        url=_as_list(get("URL")),
        domains=_as_list(get("Domains")),
        reasoning=_as_list(get("Reasoning")),
        instance_license=_as_list(get("Instance License")),
        schema="old" if old else "current",
    )


_FAST_DECODER = msgspec.json.Decoder()


def decode_task_file(raw: bytes) -> Any:
    """The decoded JSON of a task file, exactly as ``json.loads`` gives it, about 1.5x faster.

    msgspec accepts strict JSON only and decodes it to the same values as the standard library
    (big integers stay exact). Whatever it refuses (a bare ``NaN`` as in task162's URL,
    ``Infinity``, a byte order mark, lone surrogates, UTF-16) is decoded by ``json.loads``, so
    every file reads as before, and a broken file raises the standard library's error.
    """
    try:
        return _FAST_DECODER.decode(raw)
    except msgspec.MsgspecError:
        # decoded strictly: json.loads(bytes) would let UTF-8-encoded surrogates through
        return json.loads(raw.decode(json.detect_encoding(raw)))


# The typed fast path. Nearly every upstream file has one shape: lists of strings, instances with
# ids. msgspec checks those types in C while decoding, and leaves each instance's input undecoded
# (``Raw``): at most 100 of up to ~6,500 instances become rows, so only those are decoded. A file of
# any other shape (old schema, a NaN, a number where text goes, a duplicate id, ...) fails a check
# here and is read by the general path above, which normalizes it or raises the precise error.
class _FastExample(msgspec.Struct):
    input: str
    output: str | list[str]
    explanation: str | None = None


class _FastInstance(msgspec.Struct):
    input: msgspec.Raw
    output: list[str] | str
    id: str = ""


class _FastTask(msgspec.Struct):
    Definition: list[str] | str
    Categories: list[str] | str
    Positive_Examples: list[_FastExample] | None = msgspec.field(name="Positive Examples")
    Instances: list[_FastInstance]
    Negative_Examples: list[_FastExample] | None = msgspec.field(default=None, name="Negative Examples")
    Source: list[str] | str | None = None
    URL: list[str] | str | None = None
    Domains: list[str] | str | None = None
    Reasoning: list[str] | str | None = None
    Instance_License: list[str] | str | None = msgspec.field(default=None, name="Instance License")


_TYPED_DECODER = msgspec.json.Decoder(_FastTask)
_STRING_DECODER = msgspec.json.Decoder(str)
_QUOTE = ord('"')  # a JSON string's first byte: every input must be text


def _fast_examples(raw: list[_FastExample] | None) -> list[Example]:
    return [Example(e.input, _text(e.output), _text(e.explanation)) for e in raw or ()]


def _parse_fast(raw: bytes, name: str, split: str, sampling: Sampling) -> Task | None:
    """The task, read by the typed decoder; None when the file needs the general path."""
    try:
        if not raw.isascii():
            raw.decode("utf-8")  # msgspec never checks the UTF-8 of what it skips (unread keys, Raw inputs)
        data = _TYPED_DECODER.decode(raw)
    except (msgspec.MsgspecError, UnicodeDecodeError):
        return None  # the general path names the problem
    instances = data.Instances
    definitions, categories = _as_list(data.Definition), _as_list(data.Categories)
    ids = [inst.id for inst in instances]
    if (not definitions or not definitions[0].strip() or not categories or not all(i.strip() for i in ids) or len(set(ids)) != len(ids)
            or not all(_has_reference(inst.output) for inst in instances)
            or not all(memoryview(inst.input)[0] == _QUOTE for inst in instances)):
        return None  # an old-schema file (no ids), or one the general path refuses with a precise message
    kept = []
    try:
        for i in sample_indices(name, split, len(instances), sampling):
            inst = instances[i]
            kept.append(Instance(inst.id, _STRING_DECODER.decode(inst.input), _as_list(inst.output)))
    except msgspec.MsgspecError:
        return None  # an input that is not a string (the general path names it)
    return _task(name, split, lambda key: getattr(data, key.replace(" ", "_")), _fast_examples(data.Positive_Examples),
                 _fast_examples(data.Negative_Examples), kept, len(instances), isinstance(data.Definition, str))


def read_task(root: Path, name: str, split: str, sampling: Sampling) -> Task:
    """Read, validate and sample one task file ``<root>/tasks/<name>.json``."""
    path = root / "tasks" / f"{check_task_name(name, str(root))}.json"
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise NatInstError(f"{path}: task {name!r} is listed in the {split} split but its file is missing") from None
    return _parse_fast(raw, name, split, sampling) or parse_task_file(raw, path, name, split, sampling)


def parse_task_file(raw: bytes, path: Path, name: str, split: str, sampling: Sampling) -> Task:
    """The general reader: any schema variant or quirk, normalized, or the precise error."""
    try:
        data = decode_task_file(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise NatInstError(f"{path}: not valid JSON ({e}); re-download the task file.") from None
    return parse_task(data, path, name, split, sampling)
