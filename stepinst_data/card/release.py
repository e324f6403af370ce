"""A release folder: the data files of every configuration, the manifest and the dataset card.

``dataset.export`` writes the data; the card needs statistics of the written files, so it is
rendered here, at the card stage, and handed to the export as a callback (the data stage never
imports the card).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence

from ..dataset.configs import StepInstConfig
from ..dataset.export import ConfigFiles, export
from ..dataset.inputs import BuildInputs
from .croissant import write_release_croissant
from .render import DEFAULT_REPO_ID, render_card


def build_release(
    inputs: BuildInputs,
    out: str | os.PathLike,
    configs: Sequence[StepInstConfig] | None = None,
    overwrite: bool = False,
    threads: int | None = None,
    repo_id: str | None = None,
    progress: bool | None = None,
) -> list[ConfigFiles]:
    """Build ``configs`` into ``out`` with the card naming ``repo_id`` (default: a placeholder repo)."""
    card = functools.partial(_card, inputs=inputs, repo_id=repo_id or DEFAULT_REPO_ID)
    return export(inputs, out, configs, overwrite=overwrite, threads=threads, card=card, progress=progress)


def _card(folder, written, yaml_configs, yaml_infos, *, inputs: BuildInputs, repo_id: str) -> str:
    write_release_croissant(folder, inputs, repo_id)  # beside the card: the manifest and data files are written
    return render_card(folder, inputs, written, yaml_configs, yaml_infos, repo_id)
