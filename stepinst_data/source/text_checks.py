"""Refuse a non-string where a prompt takes text, naming the file, task, instance and field.

A bare ``NaN`` (pandas' export of an empty cell), a number or ``null`` as an instance's
``input``/``output``, an example's text or the definition would otherwise become ``nan`` in a
prompt or vanish. The checks run over plain decoded values, before any object is made.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class NatInstError(ValueError):
    """A SUP-NATINST file or split list that cannot be read; the message names the file."""


def _describe(value: Any) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "a bare NaN"
    if value is None:
        return "null"
    return f"{str(value)[:40]!r} (a JSON {type(value).__name__}, not a string)"


def _check_text(value: Any, where: str, field_name: str, fix: str, lists: bool = False) -> None:
    """Raise unless ``value`` is a string (or, with ``lists``, a list of strings)."""
    if type(value) is str:
        return
    if lists and type(value) is list:
        for j, item in enumerate(value):
            if type(item) is not str:
                _check_text(item, where, f"{field_name}[{j}]", fix)
        return
    raise NatInstError(
        f"{where}: {field_name} is {_describe(value)}; only text (a JSON string) can go into a prompt, "
        f"and stepinst never turns it into {str(value)!r} or drops it. {fix}"
    )


def check_text_fields(data: dict[str, Any], path: Path, task_name: str) -> None:
    """Refuse a non-string where the prompt takes text, instead of printing ``nan`` or dropping it.

    A bare ``NaN`` (pandas' export of an empty cell), a number or ``null`` as an instance's
    ``input``/``output``, an example's text or the definition would silently change the rows.
    """
    fix = "Write the text as a JSON string in the task file (or remove the entry)."
    for key in ("Definition", "Categories"):  # the category names the rows' group: 5 must not become "5"
        value = data.get(key)
        if type(value) is not str:
            _check_text(value, f"{path}: task {task_name}", f"'{key}'", fix, lists=True)
    for key in ("Positive Examples", "Negative Examples"):
        examples = data.get(key)
        for i, ex in enumerate(examples if type(examples) is list else []):
            if type(ex) is not dict:
                continue  # _examples names the missing keys
            where = f"{path}: task {task_name}, {key}[{i}]"
            for name in ("input", "output", "explanation"):
                if name in ex and not (name == "explanation" and ex[name] is None):
                    _check_text(ex[name], where, f"'{name}'", fix, lists=name == "output")
    instances = data.get("Instances")
    for i in _instances_with_non_text(instances if type(instances) is list else []):
        inst = instances[i]
        where = f"{path}: task {task_name}, instance {inst.get('id') or '(no id)'} (Instances[{i}])"
        for name in ("input", "output"):
            if name in inst:
                _check_text(inst[name], where, f"'{name}'", fix, lists=name == "output")


def _instances_with_non_text(instances: list[Any]) -> Iterator[int]:
    """Indices of instances whose ``input`` or ``output`` is not text; one cheap pass (files hold
    up to ~6,500 instances, nearly all with one reference)."""
    for i, inst in enumerate(instances):
        if type(inst) is not dict:
            continue  # _instances names the missing keys
        output = inst.get("output")
        if type(inst.get("input")) is str and type(output) is list and (
            (len(output) == 1 and type(output[0]) is str) or all(type(o) is str for o in output)
        ):
            continue
        yield i


def _surrogate_at(value: Any, where: str) -> str | None:
    """Where in ``value`` a string holds a lone surrogate (a ``\\ud800`` escape), or None."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return where
        return None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = _surrogate_at(item, f"{where}[{key!r}]")
        if found:
            return found
    return None


def check_encodable(data: dict[str, Any], path: Path, name: str) -> None:
    """Refuse a lone surrogate escape anywhere in the file: it is not text (no UTF-8 can hold it),
    and would fail later, when the rows are written, without naming the file. (The typed decoder
    refuses these files, so only the general path pays for this walk.)"""
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        where = _surrogate_at(data, "") or "a value"
        raise NatInstError(
            f"{path}: task {name}, {where}: a lone surrogate escape (such as \\ud800) is not text; "
            "fix the task file (re-download it, or write the character whole)"
        ) from None
