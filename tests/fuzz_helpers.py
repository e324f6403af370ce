"""What the property tests share: running the CLI in-process, snapshots of the inputs, and
strategies that make SUP-NATINST corpora (valid task files and mutations of them, split lists).

The reference reader here is written from the documented rules (DESIGN.md, README), not from
stepinst's code: a task file is UTF-8 JSON (a byte order mark allowed) holding an object with
``Definition`` (text, or a list of texts whose first is not blank), ``Categories`` (text or a
non-empty list of texts), ``Positive Examples`` (a list of ``{input, output[, explanation]}``),
optional ``Negative Examples``, and ``Instances`` (a non-empty list of ``{id?, input, output}``,
ids unique strings, outputs text or a list of texts with one that is not blank).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import threading
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from stepinst_data.cli import main

BOM = b"\xef\xbb\xbf"
LONG = os.environ.get("HYPOTHESIS_PROFILE") == "long"


def examples(n: int) -> int:
    """A property's examples: ``n`` in CI (the bounded profile), 20x with HYPOTHESIS_PROFILE=long."""
    return n * 20 if LONG else n


@dataclass
class Run:
    code: int
    out: str
    err: str


def run_cli(argv: list[str]) -> Run:
    """``stepinst ARGV`` in this process; a traceback (any exception escaping ``main``) fails the test."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as e:  # argparse
            code = e.code if isinstance(e.code, int) else 2
        except BaseException:
            raise AssertionError(f"stepinst {' '.join(map(str, argv))} raised:\n{traceback.format_exc()}") from None
    # A build refused after its inputs loaded (missing steps, ...) leaves the source hashing thread
    # running (a daemon: a CLI process just exits); it may still write the cache, so wait for it
    # before the example's temporary folder is removed.
    for thread in threading.enumerate():
        if thread.name == "source-digest":
            thread.join()
    return Run(code, out.getvalue(), err.getvalue())


def snapshot(*roots: Path) -> dict[str, bytes]:
    """Every file under ``roots`` with its bytes (an input must never change)."""
    files = {}
    for root in roots:
        paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        files.update({str(p): p.read_bytes() for p in paths})
    return files


def error_lines(run: Run) -> list[str]:
    return [line for line in run.err.splitlines() if line.startswith("error: ")]


def assert_one_error_naming(run: Run, *names: str) -> None:
    """Exit 1, no traceback, an ``error:`` line first that names one of ``names`` (a file)."""
    assert run.code == 1, (run.code, run.out, run.err)
    assert "Traceback" not in run.err
    errors = error_lines(run)
    assert errors, run.err
    assert any(name in errors[0] for name in names), (names, errors[0])


# -- text -------------------------------------------------------------------------------------

# Any character but lone surrogates; JSON escapes them, but they are not text (no UTF-8).
CHARS = st.characters(blacklist_categories=("Cs",))
text = st.text(CHARS, min_size=1, max_size=12).filter(lambda s: s.strip())
any_text = st.text(CHARS, max_size=12)
ODD = ["", " ", "\u00a0", "\ufeff", "e\u0301", "\u202e", "\U0001f600", "a\x00b", "\r\n", "x" * 20_000, "\ud800"]


# -- the reference reader of a task file ------------------------------------------------------

def _is_text(value: Any) -> bool:
    if type(value) is not str:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, from a JSON escape
        return False
    return True


def _texts(value: Any) -> list[str] | None:
    """A text or a list of texts, as a list; None when anything else."""
    if _is_text(value):
        return [value]
    if type(value) is list and all(_is_text(v) for v in value):
        return list(value)
    return None


def _example_ok(ex: Any) -> bool:
    if type(ex) is not dict or "input" not in ex or "output" not in ex:
        return False
    explanation_ok = ex.get("explanation") is None or _is_text(ex["explanation"])
    return _is_text(ex["input"]) and _texts(ex["output"]) is not None and explanation_ok


def derived_id(task: str, index: int, text_: str) -> str:
    """Upstream-shaped id of an old-schema instance (the documented rule: taskNNN-<sha256[:32]>)."""
    digest = hashlib.sha256(f"{task}\0{index}\0{text_}".encode()).hexdigest()[:32]
    return f"{task.split('_', 1)[0]}-{digest}"


@dataclass
class RefTask:
    name: str
    definition: str
    category: str
    rows: dict[str, tuple[str, list[str]]] = field(default_factory=dict)  # id -> (input, outputs)


def ref_read_task(raw: bytes, name: str) -> RefTask | None:
    """The task a file holds by the documented rules, or None when it must be refused."""
    if raw.startswith(BOM):
        raw = raw[len(BOM):]
    try:
        data = json.loads(raw.decode("utf-8"))
        json.dumps(data, ensure_ascii=False).encode("utf-8")  # a lone surrogate escape anywhere is not text
    except ValueError:  # (UnicodeError is one)
        return None
    if type(data) is not dict or not all(k in data for k in ("Definition", "Categories", "Positive Examples", "Instances")):
        return None
    definitions, categories = _texts(data["Definition"]), _texts(data["Categories"])
    if not definitions or not definitions[0].strip() or not categories:
        return None
    for key in ("Positive Examples", "Negative Examples"):
        examples = data.get(key)
        if examples is not None and (type(examples) is not list or not all(_example_ok(e) for e in examples)):
            return None
    instances = data["Instances"]
    if type(instances) is not list or not instances:
        return None
    task = RefTask(name, definitions[0], categories[0])
    for i, inst in enumerate(instances):
        if type(inst) is not dict or "input" not in inst or "output" not in inst or not _is_text(inst["input"]):
            return None
        outputs = _texts(inst["output"])
        if not outputs or not any(o.strip() for o in outputs):
            return None
        inst_id = inst.get("id")
        if inst_id is None:
            inst_id = derived_id(name, i, inst["input"])
        elif not _is_text(inst_id) or not inst_id.strip():
            return None
        if inst_id in task.rows:
            return None
        task.rows[inst_id] = (inst["input"], outputs)
    return task


# -- strategies: a task file and its mutations -------------------------------------------------

@st.composite
def valid_task(draw, name: str) -> dict[str, Any]:
    examples = st.fixed_dictionaries({"input": any_text, "output": text}, optional={"explanation": any_text})
    num = draw(st.integers(1, 4))
    old = draw(st.booleans())  # the old schema: a plain-string definition, instances without ids
    instances = []
    for i in range(num):
        inst: dict[str, Any] = {"input": draw(any_text), "output": draw(st.lists(any_text, min_size=1, max_size=2).map(lambda o: o + ["ref"]))}
        if not old:
            inst = {"id": f"{name.split('_')[0]}-{i}-{draw(st.text('abc', max_size=3))}", **inst}
        instances.append(inst)
    definition = draw(text)
    return {
        "Contributors": ["fuzz"],
        "Source": ["fuzz"],
        "URL": draw(st.sampled_from([["https://example.org"], [math.nan]])),
        "Categories": [draw(text)],
        "Definition": definition if old else [definition],
        "Positive Examples": draw(st.lists(examples, max_size=2)),
        "Negative Examples": draw(st.lists(examples, max_size=1)),
        "Instances": instances,
        "Instance License": ["Unknown"],
    }


BAD_VALUES = st.sampled_from([None, math.nan, math.inf, 5, 1.5, True, [], {}, [None], [5], [""], "", " ", "x" * 20_000,
                              "\ud800", {"a": 1}, ["ok", 3]])
PATHS = [("Definition",), ("Definition", 0), ("Categories",), ("Categories", 0), ("Positive Examples",),
         ("Positive Examples", 0), ("Positive Examples", 0, "input"), ("Positive Examples", 0, "output"),
         ("Positive Examples", 0, "explanation"), ("Negative Examples",), ("Instances",), ("Instances", 0),
         ("Instances", 0, "id"), ("Instances", 0, "input"), ("Instances", 0, "output"), ("Instances", 0, "output", 0),
         ("Instances", -1, "input")]


def _parent(data: Any, path: tuple) -> tuple[Any, Any] | None:
    """(container, key) of ``path`` in ``data``, or None when the path does not exist."""
    node = data
    for key in path[:-1]:
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            return None
    last = path[-1]
    if isinstance(node, dict) or (isinstance(node, list) and isinstance(last, int) and -len(node) <= last < len(node)):
        return node, last
    return None


@st.composite
def task_bytes(draw, name: str) -> bytes:
    """A task file's bytes: valid, or one of the documented ways real files go wrong."""
    data = draw(valid_task(name))
    kind = draw(st.sampled_from(["valid", "set", "delete", "extra", "duplicate_id", "empty_instances", "odd_text"]))
    if kind in ("set", "delete", "odd_text"):
        found = _parent(data, draw(st.sampled_from(PATHS)))
        if found:
            node, key = found
            if kind == "delete" and isinstance(node, dict):
                node.pop(key, None)
            elif kind == "delete":
                del node[key]
            else:
                node[key] = draw(BAD_VALUES) if kind == "set" else draw(st.sampled_from(ODD))
    elif kind == "extra":
        data[draw(st.sampled_from(["Extra", "definition", "Reasoning"]))] = draw(BAD_VALUES)
        data["Instances"][0][draw(st.sampled_from(["extra", "ID"]))] = draw(BAD_VALUES)
    elif kind == "duplicate_id" and len(data["Instances"]) > 1 and "id" in data["Instances"][0]:
        data["Instances"][1]["id"] = data["Instances"][0]["id"]
    elif kind == "empty_instances":
        data["Instances"] = []
    raw = json.dumps(data, ensure_ascii=draw(st.booleans()), indent=draw(st.sampled_from([None, 1]))).encode("utf-8", "surrogatepass")
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8", "bom", "torn", "latin-1", "top_level_list"]))
    if encoding == "bom":
        raw = BOM + raw
    elif encoding == "torn":
        raw = raw[: draw(st.integers(0, max(0, len(raw) - 1)))]
    elif encoding == "latin-1":
        raw = raw.decode("utf-8", "surrogatepass").encode("latin-1", "replace")
    elif encoding == "top_level_list":
        raw = b"[" + raw + b"]"
    return raw


# -- strategies: a corpus (task files + split lists) ------------------------------------------

@dataclass
class Corpus:
    root: Path
    files: dict[str, bytes]  # task name -> bytes of its file
    train: list[str]  # split list lines, as written
    test: list[str]
    newline: str = "\n"
    bom: bool = False

    def write(self) -> None:
        (self.root / "tasks").mkdir(parents=True)
        (self.root / "splits" / "default").mkdir(parents=True)
        for name, raw in self.files.items():
            (self.root / "tasks" / f"{name}.json").write_bytes(raw)
        for split, lines in (("train", self.train), ("test", self.test)):
            data = (BOM if self.bom else b"") + self.newline.join(lines).encode("utf-8")
            (self.root / "splits" / "default" / f"{split}_tasks.txt").write_bytes(data)

    def split_path(self, split: str) -> Path:
        return self.root / "splits" / "default" / f"{split}_tasks.txt"


@st.composite
def corpora(draw, root: Path) -> Corpus:
    """1-3 tasks, each in train or test, one file perhaps broken; split lists with blank lines,
    CRLF, padding, a byte order mark, and perhaps a repeated or an unknown name."""
    count = draw(st.integers(1, 3))
    names = [f"task{900 + i}_fuzz_{draw(st.sampled_from(['qa', 'sum', 'cls']))}" for i in range(count)]
    broken = draw(st.sampled_from([None, *names]))
    files = {n: draw(task_bytes(n)) if n == broken else _valid_bytes(draw(valid_task(n))) for n in names}
    splits = {n: draw(st.sampled_from(["train", "test"])) for n in names}
    train = [n for n in names if splits[n] == "train"]
    test = [n for n in names if splits[n] == "test"]
    change = draw(st.sampled_from(["none", "none", "blank", "padding", "duplicate", "unknown", "overlap"]))
    lists = {"train": train, "test": test}
    target = lists[draw(st.sampled_from(["train", "test"]))]
    if change == "blank":
        target.insert(draw(st.integers(0, len(target))), draw(st.sampled_from(["", "  ", "\t"])))
    elif change == "padding" and target:
        i = draw(st.integers(0, len(target) - 1))
        target[i] = f"  {target[i]}\t"
    elif change == "duplicate" and target:
        target.insert(draw(st.integers(0, len(target))), draw(st.sampled_from(target)))
    elif change == "unknown":
        target.append("task999_not_in_tasks")
    elif change == "overlap" and names:
        train.append(names[0]) if splits[names[0]] == "test" else test.append(names[0])
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    return Corpus(root, files, train, test, newline, bom=draw(st.booleans()))


def _valid_bytes(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode("utf-8")


@dataclass
class RefCorpus:
    ok: bool
    tasks: dict[str, tuple[str, RefTask]] = field(default_factory=dict)  # name -> (split, task)


def ref_read_corpus(corpus: Corpus) -> RefCorpus:
    """What a build of ``corpus`` holds by the documented rules (or that it must be refused)."""
    lists = {}
    for split, lines in (("train", corpus.train), ("test", corpus.test)):
        names = [line.strip() for line in lines if line.strip()]
        if len(set(names)) != len(names):
            return RefCorpus(False)
        lists[split] = names
    if set(lists["train"]) & set(lists["test"]):
        return RefCorpus(False)
    result = RefCorpus(True)
    for split, names in lists.items():
        for name in names:
            task = ref_read_task(corpus.files[name], name) if name in corpus.files else None
            if task is None:
                return RefCorpus(False)
            result.tasks[name] = (split, task)
    return result
