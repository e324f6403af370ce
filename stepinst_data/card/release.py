"""A release folder from a build plan, start to end: the one function every build goes through.

``stepinst build`` makes the plan from its flags, ``build --like`` and ``verify`` from a manifest
(:class:`~stepinst_data.dataset.plan.BuildPlan`); all of them call :func:`release`, which:

1. checks the plan and ``--out`` before a file is read (never an input, never a user's file);
2. resolves the source and starts hashing its files on a thread, beside the parse;
3. loads the inputs (the cached task table, the stores) and writes every configuration's data;
4. builds the manifest, renders the card from it, writes both once, and swaps the folder in;
5. stops the hashing in a ``finally``: a build that fails exits at once.

It lives at the card stage because the card is the last thing a release needs.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..dataset.export import ConfigFiles, check_rows, default_configs, write_configs, yaml_metadata
from ..dataset.inputs import load_build_inputs
from ..dataset.manifest import Manifest, build_manifest, write_manifest
from ..dataset.outdir import CARD, check_out, leftover_path, swap_in
from ..dataset.plan import BuildPlan
from ..source.digest import BackgroundDigest
from ..source.fetch import default_cache_dir, resolve_natinst
from .croissant import write_release_croissant
from .render import DEFAULT_REPO_ID, render_card

logger = logging.getLogger(__name__)


@dataclass
class Built:
    """What :func:`release` wrote: the folder, each configuration's files, and the manifest."""

    out: Path
    written: list[ConfigFiles]
    manifest: Manifest


def release(
    plan: BuildPlan,
    natinst: str | os.PathLike,
    out: str | os.PathLike,
    steps: str | os.PathLike | None = None,
    ratings: str | os.PathLike | None = None,
    *,
    cache_dir: str | os.PathLike | None = None,
    num_proc: int = 1,
    overwrite: bool = False,
    threads: int | None = None,
    progress: bool | None = None,
) -> Built:
    """Build ``plan`` from ``natinst`` (+ ``steps``, ``ratings``) into the release folder ``out``.

    ``num_proc`` processes parse the task files, ``threads`` write the configurations (default:
    one per core); ``progress``: bars on stderr (None: only on a terminal).
    """
    plan.check()
    out, cache = Path(out), Path(cache_dir) if cache_dir else default_cache_dir()
    check_out(out, natinst, steps, ratings, cache, overwrite)
    root = resolve_natinst(natinst, cache)
    hashing = BackgroundDigest(root, plan.allow_missing_tasks, cache, num_proc)
    tmp = leftover_path(out, "tmp")
    try:
        inputs = load_build_inputs(root, steps, ratings, plan, num_proc, cache, progress)
        plan = inputs.plan = plan if plan.configs is not None else plan.with_configs(default_configs(inputs))
        configs = plan.stepinst_configs() or []
        inputs.check_serves(configs)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        logger.info("writing %s", ", ".join(c.name for c in configs))
        written = write_configs(inputs, configs, tmp, threads, progress)
        check_rows(written)
        yaml_configs, yaml_infos = yaml_metadata(written, inputs)
        manifest = build_manifest(plan, inputs, written, str(natinst), cache, hashing.result())
        card = render_card(manifest, inputs, written, yaml_configs, yaml_infos).encode("utf-8")
        manifest.card_sha256 = hashlib.sha256(card).hexdigest()  # the next build tells a hand-edited card by it
        (tmp / CARD).write_bytes(card)
        write_manifest(tmp, manifest)
        write_release_croissant(tmp, manifest, inputs, plan.repo or DEFAULT_REPO_ID)  # the data files' Croissant
        swap_in(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        hashing.cancel()  # a no-op once the digests are in; after a failure, nobody waits for them
    return Built(out, written, manifest)
