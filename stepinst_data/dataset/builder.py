"""``StepInstBuilder``: the configurations as a ``datasets`` builder, for use from Python.

datasets >= 4 no longer runs loading scripts, but a builder class used directly still works::

    builder = StepInstBuilder(config_name="steps_ordered", natinst="natinst/", steps="steps.jsonl")
    builder.download_and_prepare()
    ds = builder.as_dataset()

Custom configurations pass parameters (``num_pos_examples=1``, ``steps="reversed"``, ...) as
keyword arguments, or a ready :class:`StepInstConfig` as ``config``; the sampling and the
validation split are the build's (``sampling=Sampling(...)``, ``validation_tasks=N``). For a
folder that ``load_dataset`` reads and that can be pushed to the Hub, use
:func:`stepinst_data.card.release.release` (what ``stepinst build`` runs).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import fields
from pathlib import Path

import datasets
import msgspec

from ..resources import citation_bib
from ..source.digest import file_key
from ..source.fetch import resolve_natinst
from ..source.natinst import Sampling
from ..source.table import code_digest, reader_digest
from .configs import PRESETS, StepInstConfig
from .inputs import BuildInputs, load_build_inputs
from .plan import BUILDER_FIELDS, BuildPlan
from .render import features_for, split_tables


def _code_version() -> str:
    """A digest of the code that turns the inputs into rows: the reader (as the task table's cache
    keys it), the config table, the orderings, the template and the renderer. A change to any of
    them (an edit, an upgrade) must never return rows that ``datasets`` cached from the old code."""
    from . import configs, orderings, render, template

    return code_digest([configs, orderings, template, render], reader_digest())


def _fingerprint(*paths: str | os.PathLike | None) -> str:
    """Cache key of the inputs and of the code that renders them, so neither a new steps store nor a
    new template ever reuses rows prepared from the old one."""
    h = hashlib.sha256(_code_version().encode())
    for p in paths:
        if p is None:
            h.update(b"-\n")
            continue
        path = Path(p)
        h.update(str(path.resolve() if path.exists() else p).encode())
        for f in [path] if path.is_file() else sorted(path.glob("splits/**/*.txt")) + sorted(path.glob("tasks/*.json")):
            h.update(f"{f.name}\0{file_key(f)}\n".encode())
    return h.hexdigest()[:16]


def _inputs_fingerprint(inputs: BuildInputs) -> str:
    """Cache key of inputs already loaded: the parsed table (its file name is a content key), the
    steps and the ratings, and the rendering code."""
    h = hashlib.sha256(_code_version().encode())
    h.update(f"{inputs.table.path}\0{len(inputs.table.infos)}\n".encode() + msgspec.json.encode(inputs.plan))
    for name in sorted(inputs.steps or {}):
        h.update(inputs.steps[name].to_json().encode() + b"\n")
    if inputs.ratings is not None:
        h.update(json.dumps([inputs.ratings.rubric.to_dict(), inputs.ratings.records], sort_keys=True).encode())
    return h.hexdigest()[:16]


class StepInstBuilder(datasets.ArrowBasedBuilder):
    """SUP-NATINST with step-by-step instructions, one builder configuration per preset."""

    BUILDER_CONFIG_CLASS = StepInstConfig
    BUILDER_CONFIGS = list(PRESETS.values())
    DEFAULT_CONFIG_NAME = "steps_ordered"

    def __init__(
        self,
        *args,
        natinst: str | os.PathLike | None = None,
        steps: str | os.PathLike | None = None,
        ratings: str | os.PathLike | None = None,
        num_proc: int = 1,
        allow_missing_tasks: bool = False,
        skip_empty_tasks: bool = False,
        sampling: Sampling | None = None,
        validation_tasks: int = 0,
        cache_dir: str | os.PathLike | None = None,
        inputs: BuildInputs | None = None,
        config: StepInstConfig | None = None,
        **kwargs,
    ):
        if config is not None:  # a custom configuration object: its fields override the default preset
            kwargs.update({f.name: getattr(config, f.name) for f in fields(StepInstConfig) if f.name not in BUILDER_FIELDS})
        if natinst is None and inputs is None:
            raise ValueError("StepInstBuilder needs `natinst=` (a SUP-NATINST folder or archive URL) or `inputs=`")
        plan = BuildPlan(sampling=sampling or Sampling(), validation_tasks=validation_tasks,
                         allow_missing_tasks=allow_missing_tasks, skip_empty_tasks=skip_empty_tasks).check()
        self._source = dict(natinst=natinst, steps=steps, ratings=ratings, num_proc=num_proc, cache_dir=cache_dir, plan=plan)
        self._inputs = inputs
        source_key = _fingerprint(natinst, steps, ratings) + hashlib.sha256(msgspec.json.encode(plan)).hexdigest()[:8]
        kwargs.setdefault("hash", source_key if inputs is None else _inputs_fingerprint(inputs))
        kwargs.setdefault("dataset_name", "stepinst")
        super().__init__(*args, **kwargs)

    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(
            description=self.config.description or "",
            features=features_for(self.config, self._inputs),
            homepage="https://arxiv.org/abs/2305.04429",
            citation=citation_bib(),
            license="apache-2.0",
        )

    def _load_inputs(self) -> BuildInputs:
        if self._inputs is None:
            s = self._source
            root = resolve_natinst(s["natinst"], s["cache_dir"])
            self._inputs = load_build_inputs(root, s["steps"], s["ratings"], s["plan"], s["num_proc"], s["cache_dir"])
        return self._inputs

    def _split_generators(self, dl_manager) -> list[datasets.SplitGenerator]:
        inputs = self._load_inputs()
        inputs.check_serves([self.config])  # the release's checks: never a half config
        self.info.features = features_for(self.config, inputs)
        return [datasets.SplitGenerator(name=split, gen_kwargs={"split": split}) for split in inputs.table.split_names]

    def _generate_tables(self, split: str):
        for index, table in enumerate(split_tables(self.config, self._load_inputs(), split)):
            yield index, table
