"""Check a built folder before it goes to the Hub: every problem at once, each naming its place.

The Hub validates the card's YAML when the commit arrives, after every data file has been
uploaded; a folder that fails there wastes the upload. So ``stepinst push`` (and the tests) run
these checks locally first: the card parses with ``huggingface_hub``'s ``DatasetCard``, carries
every key the Hub expects with values from the Hub's vocabularies (:mod:`.hub_metadata`), its
``configs`` point at files that exist, its ``dataset_info`` agrees with the Parquet files, and
every configuration loads with ``datasets``.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import yaml

from . import hub_metadata
from ..dataset.manifest import MANIFEST, Manifest, ManifestError, read_manifest
from ..dataset.outdir import CROISSANT

logger = logging.getLogger(__name__)

# Sections every stepinst card carries; a card without them was not rendered by `stepinst build`.
REQUIRED_SECTIONS = ("## Configurations", "## Fields", "## How the steps were made", "## Licensing", "## Citation")
REQUIRED_CITATIONS = ("2305.04429", "wang2022supernaturalinstructions")


class FolderCheckError(ValueError):
    """A folder that must not be pushed; the message lists every problem."""


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def check_metadata(meta: dict[str, Any], where: str = "README.md") -> list[str]:
    """Problems with the card's YAML header: missing keys and values the Hub would reject."""
    problems = [f"{where}: YAML header lacks `{key}`" for key in hub_metadata.REQUIRED_KEYS if not meta.get(key)]
    for lic in _as_list(meta.get("license")):
        if lic not in hub_metadata.LICENSES:
            problems.append(f"{where}: license {lic!r} is not a Hub licence id (e.g. 'apache-2.0', 'other')")
    codes = hub_metadata.language_codes()
    for code in _as_list(meta.get("language")):
        if codes is not None and code not in codes:
            problems.append(f"{where}: language {code!r} is not an ISO 639 code the Hub knows")
    for task in _as_list(meta.get("task_categories")):
        if task not in hub_metadata.TASK_CATEGORIES:
            problems.append(f"{where}: task_categories value {task!r} is not in the Hub's task list")
    for size in _as_list(meta.get("size_categories")):
        if size not in hub_metadata.size_categories():
            problems.append(f"{where}: size_categories value {size!r} is not one of {hub_metadata.size_categories()}")
    for source in _as_list(meta.get("source_datasets")):
        if not (source in ("original", "extended") or str(source).startswith("extended|")):
            problems.append(f"{where}: source_datasets value {source!r} must be 'original', 'extended' or 'extended|<id>'")
    for value in _as_list(meta.get("multilinguality")):
        if value not in hub_metadata.multilinguality():
            problems.append(f"{where}: multilinguality {value!r} is not one of {sorted(hub_metadata.multilinguality())}")
    for key, kind in (("annotations_creators", "annotations"), ("language_creators", "language")):
        for value in _as_list(meta.get(key)):
            if value not in hub_metadata.creators(kind):
                problems.append(f"{where}: {key} value {value!r} is not one of {sorted(hub_metadata.creators(kind))}")
    if "other" in _as_list(meta.get("license")) and not meta.get("license_name"):
        problems.append(f"{where}: license 'other' needs a `license_name` (and a `license_link`)")
    if "pretty_name" in meta and not isinstance(meta["pretty_name"], str):
        problems.append(f"{where}: pretty_name must be a string")
    return problems


def local_files(folder: str | os.PathLike) -> dict[str, Path]:
    """The files of a built folder that belong on the Hub: the card, the manifest, ``data/``."""
    folder = Path(folder)
    files = {"README.md": folder / "README.md", MANIFEST: folder / MANIFEST}
    if (folder / CROISSANT).is_file():
        files[CROISSANT] = folder / CROISSANT
    for path in sorted((folder / "data").rglob("*")):
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(folder).parts):
            files[path.relative_to(folder).as_posix()] = path
    return files


def _check_configs(folder: Path, meta: dict[str, Any], manifest: Manifest) -> list[str]:
    """``configs`` entries are well-formed, point at existing files, and match the build manifest."""
    problems, referenced, defaults = [], set(), 0
    configs = meta.get("configs") or []
    names = [c.get("config_name") if isinstance(c, dict) else None for c in configs]
    for entry, name in zip(configs, names):
        if not isinstance(entry, dict) or not isinstance(name, str) or not name:
            problems.append(f"README.md: configs entry {entry!r} has no `config_name`")
            continue
        defaults += bool(entry.get("default"))
        files = entry.get("data_files")
        if not isinstance(files, list) or not files:
            problems.append(f"README.md: config {name!r} has no `data_files` list")
            continue
        for item in files:
            if not isinstance(item, dict) or not {"split", "path"} <= set(item):
                problems.append(f"README.md: config {name!r}: data_files entry {item!r} needs `split` and `path`")
            elif not (folder / item["path"]).is_file():
                problems.append(f"README.md: config {name!r} split {item['split']!r}: {item['path']} does not exist")
            else:
                referenced.add(item["path"])
    duplicates = sorted({n for n in names if n and names.count(n) > 1})
    if duplicates:
        problems.append(f"README.md: config(s) listed twice: {duplicates}")
    if defaults > 1:
        problems.append("README.md: more than one config is marked `default: true`")
    built = set(manifest.configs)
    if built != {n for n in names if n}:
        problems.append(f"README.md configs {sorted(n for n in names if n)} differ from the built configs {sorted(built)}; rebuild")
    for path in sorted(p for p in local_files(folder) if p.startswith("data/")):
        if path not in referenced:
            problems.append(f"{path}: not referenced by the card's configs (a stale file?); rebuild into an empty folder")
    return problems


def _check_infos(folder: Path, meta: dict[str, Any]) -> list[str]:
    """``dataset_info`` agrees with the Parquet files: the same features and row counts."""
    import datasets

    problems = []
    infos = {i.get("config_name"): i for i in meta.get("dataset_info") or [] if isinstance(i, dict)}
    for entry in meta.get("configs") or []:
        name = entry.get("config_name") if isinstance(entry, dict) else None
        info = infos.get(name)
        if name and info is None:
            problems.append(f"README.md: dataset_info has no entry for config {name!r}")
            continue
        if not name or not isinstance(entry.get("data_files"), list):
            continue
        try:
            expected = datasets.Features._from_yaml_list(info.get("features") or [])
        except (TypeError, ValueError, KeyError, AttributeError) as e:
            problems.append(f"README.md: dataset_info features of config {name!r} do not parse ({type(e).__name__}: {e})")
            continue
        rows = {s.get("name"): s.get("num_examples") for s in info.get("splits") or [] if isinstance(s, dict)}
        for item in entry["data_files"]:
            if not isinstance(item, dict) or not {"split", "path"} <= set(item):
                continue  # reported by _check_configs
            path = folder / item["path"]
            if not path.is_file():
                continue
            parquet = pq.ParquetFile(path)
            if datasets.Features.from_arrow_schema(parquet.schema_arrow) != expected:
                problems.append(f"{item['path']}: columns differ from dataset_info features of config {name!r}")
            if rows.get(item["split"]) != parquet.metadata.num_rows:
                problems.append(
                    f"README.md: dataset_info says config {name!r} split {item['split']!r} has "
                    f"{rows.get(item['split'])} rows; {item['path']} has {parquet.metadata.num_rows}"
                )
    return problems


def _check_loads(folder: Path, meta: dict[str, Any]) -> list[str]:
    """Every configuration loads with ``datasets`` (streaming: reads one row of each split)."""
    import datasets

    problems = []
    with tempfile.TemporaryDirectory(prefix="stepinst-check-") as cache:
        for entry in meta.get("configs") or []:
            name = entry.get("config_name") if isinstance(entry, dict) else None
            if not name:
                continue
            try:
                loaded = datasets.load_dataset(str(folder), name, streaming=True, cache_dir=cache)
                for split, stream in loaded.items():
                    next(iter(stream), None)
            except Exception as e:  # any failure here is a folder the Hub's viewer would not load either
                problems.append(f"config {name!r} does not load with datasets: {type(e).__name__}: {e}")
    return problems


def check_folder(folder: str | os.PathLike, load: bool = True) -> list[str]:
    """Every problem that keeps ``folder`` from being pushed; empty when it is ready."""
    from huggingface_hub import DatasetCard

    folder = Path(folder)
    if not folder.is_dir():
        return [f"{folder}: not a folder"]
    readme = folder / "README.md"
    if not (folder / MANIFEST).is_file():
        return [f"{folder}: no {MANIFEST}: this folder was not built by `stepinst build`; build it with `stepinst build --out {folder}`"]
    if not readme.is_file():
        return [f"{folder}: no README.md (the dataset card); rebuild it with `stepinst build --natinst ... --out {folder}`"]
    try:
        manifest = read_manifest(folder)
    except ManifestError as e:
        return [str(e)]
    try:
        card = DatasetCard(readme.read_text(encoding="utf-8"))
    except (ValueError, yaml.YAMLError) as e:
        return [f"{readme}: the card's YAML header does not parse: {e}"]
    meta = card.data.to_dict()
    problems = check_metadata(meta)
    problems += [f"README.md: the card body lacks the section {s!r}" for s in REQUIRED_SECTIONS if s not in card.text]
    problems += [f"README.md: the citation block lacks {c!r}" for c in REQUIRED_CITATIONS if c not in card.text]
    problems += _check_configs(folder, meta, manifest)
    problems += _check_infos(folder, meta)
    if load and not problems:
        problems += _check_loads(folder, meta)
    return problems


def assert_pushable(folder: str | os.PathLike, load: bool = True) -> None:
    """Raise :class:`FolderCheckError` listing every problem of ``folder``."""
    problems = check_folder(folder, load=load)
    if problems:
        listing = "\n  - ".join(problems)
        raise FolderCheckError(f"{folder} cannot be pushed ({len(problems)} problem(s)):\n  - {listing}")
