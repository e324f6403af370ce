"""Write the Hub-ready folder: ``data/<config>/<split>-<digest>.parquet`` + ``README.md``.

* ``load_dataset(out, name)`` reads it through the README's YAML ``configs:`` block.
* File names carry a digest of their bytes: datasets caches a local folder's configs by file
  names and sizes, so a rebuild with new content under old names would silently load OLD rows.
* The folder is written beside ``out`` and swapped in at the end: an interrupted build never
  leaves a half-written dataset that loads.
* Rebuilding from the same inputs gives byte-identical files (no timestamps anywhere).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq

from . import __version__
from .configs import PRESETS, StepInstConfig
from .inputs import BuildInputs
from .render import features_for, rows_for

logger = logging.getLogger(__name__)

from .stats import MANIFEST


class ExportError(ValueError):
    """The output folder cannot be written; the message says why and what to do."""


@dataclass
class ConfigFiles:
    """What was written for one configuration: per split, the file and its row count."""

    config: StepInstConfig
    files: dict[str, str] = field(default_factory=dict)
    num_examples: dict[str, int] = field(default_factory=dict)
    num_bytes: dict[str, int] = field(default_factory=dict)
    download_size: int = 0


def default_configs(inputs: BuildInputs) -> list[StepInstConfig]:
    """The presets these inputs can serve: step configs need steps, the hq filter needs ratings."""
    chosen = []
    for config in PRESETS.values():
        if config.uses_steps and inputs.steps is None:
            logger.warning("skipping %r: no steps store given (--steps)", config.name)
        elif config.min_steps_quality is not None and inputs.ratings is None:
            logger.warning("skipping %r: no ratings store given (--ratings)", config.name)
        else:
            chosen.append(config)
    return chosen


def _parquet_bytes(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def write_config(inputs: BuildInputs, config: StepInstConfig, folder: Path) -> ConfigFiles:
    """Render and write every split of one configuration into ``folder/data/<config>/``."""
    features = features_for(config, inputs)
    schema = features.arrow_schema
    written = ConfigFiles(config)
    (folder / "data" / config.name).mkdir(parents=True, exist_ok=True)
    for split in inputs.table.split_names:
        table = pa.Table.from_pylist(list(rows_for(config, inputs, split)), schema=schema)
        data = _parquet_bytes(table)
        relative = f"data/{config.name}/{split}-{hashlib.sha256(data).hexdigest()[:16]}.parquet"
        (folder / relative).write_bytes(data)
        written.files[split] = relative
        written.num_examples[split] = table.num_rows
        written.num_bytes[split] = table.nbytes
        written.download_size += len(data)
    return written


def yaml_metadata(written: Sequence[ConfigFiles], inputs: BuildInputs) -> tuple[list[dict], list[dict]]:
    """The card's ``configs`` and ``dataset_info`` blocks, as ``load_dataset`` reads them."""
    configs, infos = [], []
    for w in written:
        entry = {"config_name": w.config.name, "data_files": [{"split": s, "path": p} for s, p in w.files.items()]}
        if w.config.name == "steps_ordered":
            entry["default"] = True
        configs.append(entry)
        splits = datasets.SplitDict()
        for split, n in w.num_examples.items():
            splits.add(datasets.SplitInfo(name=split, num_bytes=w.num_bytes[split], num_examples=n))
        info = datasets.DatasetInfo(
            features=features_for(w.config, inputs),
            config_name=w.config.name,
            splits=splits,
            download_size=w.download_size,
            dataset_size=sum(w.num_bytes.values()),
        )
        infos.append(info._to_yaml_dict())
    return configs, infos


def _check_out(out: Path, overwrite: bool) -> None:
    if not out.exists():
        return
    if not out.is_dir():
        raise ExportError(f"--out {out} exists and is not a folder; choose another path")
    if (out / MANIFEST).is_file() or not any(out.iterdir()) or overwrite:
        return
    raise ExportError(
        f"--out {out} already holds files that stepinst did not write; refusing to replace them. "
        "Choose an empty or new folder, or pass --overwrite to replace its contents."
    )


def _swap_in(tmp: Path, out: Path) -> None:
    """Replace ``out`` by ``tmp`` with renames, so readers see the old or the new folder, whole."""
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    if out.exists():
        os.replace(out, old)
    os.replace(tmp, out)
    shutil.rmtree(old, ignore_errors=True)


def export(
    inputs: BuildInputs,
    out: str | os.PathLike,
    configs: Sequence[StepInstConfig] | None = None,
    overwrite: bool = False,
    repo_id: str | None = None,
) -> list[ConfigFiles]:
    """Build ``configs`` (default: every preset the inputs can serve) into the folder ``out``."""
    from .card import DEFAULT_REPO_ID, render_card  # the card needs stats of the written files

    out = Path(out)
    _check_out(out, overwrite)
    configs = list(configs) if configs is not None else default_configs(inputs)
    if any(c.uses_steps for c in configs):
        inputs.check_steps()
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        written = []
        for config in configs:
            logger.info("writing %s", config.name)
            written.append(write_config(inputs, config, tmp))
        yaml_configs, yaml_infos = yaml_metadata(written, inputs)
        (tmp / "README.md").write_text(render_card(tmp, inputs, written, yaml_configs, yaml_infos, repo_id or DEFAULT_REPO_ID), encoding="utf-8")
        manifest = {
            "stepinst_version": __version__,
            "configs": {w.config.name: {"files": w.files, "num_examples": w.num_examples} for w in written},
            "missing_tasks": inputs.table.missing,
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        _swap_in(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return written
