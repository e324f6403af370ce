"""``croissant.json``: the release described in Croissant 1.1 (MLCommons' JSON-LD, read by the Hub, Kaggle, dataset search).

The Hub writes Croissant for Parquet datasets itself, with a placeholder checksum; this one is
written by every build from what the build wrote and recorded:

* each data file as a ``cr:FileObject`` with the sha256 the manifest recorded when it was written;
* one ``cr:RecordSet`` per configuration over its files (a ``cr:FileSet``), with a typed field per
  column (lists as ``isArray``, example lists as sub-fields) and the split read from the file name;
* the licences: the dataset's, and a ``task_licenses`` RecordSet (task -> SUP-NATINST
  ``Instance License``) when the tasks' licences differ;
* the citation, the provenance from the manifest (inputs by sha256, parameters, versions);
* the Responsible-AI fields that apply: machine-generated steps (models, prompt versions) and the
  human ratings (annotators, rubric, agreement).

:func:`croissant_metadata` is a pure function of those inputs; :func:`write_croissant` gathers
them from a release folder. ``stepinst verify`` checks the file against the folder
(:func:`croissant_problems`).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..dataset.outdir import CROISSANT
from ..resources import citation_bib
from ..source.digest import sha256_file
from .sections import agreement

logger = logging.getLogger(__name__)

CONFORMS_TO = "http://mlcommons.org/croissant/1.1"
PARQUET = "application/x-parquet"
NOT_STATED = "not stated (older task file)"  # as the card's licence table says it
SPLIT_REGEX = r"^(train|validation|test)-[0-9a-f]+\.parquet$"
CONTEXT: dict[str, Any] = {
    "@language": "en", "@vocab": "https://schema.org/", "arrayShape": "cr:arrayShape", "citeAs": "cr:citeAs",
    "column": "cr:column", "conformsTo": "dct:conformsTo", "containedIn": "cr:containedIn",
    "cr": "http://mlcommons.org/croissant/", "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"}, "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/", "equivalentProperty": "cr:equivalentProperty",
    "examples": {"@id": "cr:examples", "@type": "@json"}, "extract": "cr:extract", "field": "cr:field",
    "fileProperty": "cr:fileProperty", "fileObject": "cr:fileObject", "fileSet": "cr:fileSet", "format": "cr:format",
    "includes": "cr:includes", "isArray": "cr:isArray", "isLiveDataset": "cr:isLiveDataset", "jsonPath": "cr:jsonPath",
    "key": "cr:key", "md5": "cr:md5", "parentField": "cr:parentField", "path": "cr:path", "recordSet": "cr:recordSet",
    "references": "cr:references", "regex": "cr:regex", "repeated": "cr:repeated", "replace": "cr:replace",
    "samplingRate": "cr:samplingRate", "sc": "https://schema.org/", "separator": "cr:separator", "source": "cr:source",
    "subField": "cr:subField", "transform": "cr:transform",
}


def data_type(arrow: pa.DataType) -> str:
    """The Croissant (schema.org) type of an Arrow scalar type."""
    if pa.types.is_string(arrow) or pa.types.is_large_string(arrow):
        return "sc:Text"
    if pa.types.is_integer(arrow):
        return "sc:Integer"
    if pa.types.is_floating(arrow):
        return "sc:Float"
    if pa.types.is_boolean(arrow):
        return "sc:Boolean"
    raise ValueError(f"no Croissant type for the Arrow type {arrow}; add it to stepinst_data/card/croissant.py")


def field_entry(record_set: str, column: str, arrow: pa.DataType, file_set: str, parent: str | None = None) -> dict[str, Any]:
    """A ``cr:Field`` for one column, or for one member of the struct column ``parent`` (read by ``jsonPath``)."""
    uid = "/".join(p for p in (record_set, parent, column) if p)
    entry: dict[str, Any] = {"@type": "cr:Field", "@id": uid, "name": column}
    if pa.types.is_list(arrow) or pa.types.is_large_list(arrow):
        entry.update(isArray=True, arrayShape="-1")
        arrow = arrow.value_type
    source: dict[str, Any] = {"fileSet": {"@id": file_set}, "extract": {"column": parent or column}}
    if parent:
        source["transform"] = {"jsonPath": column}
    if pa.types.is_struct(arrow):
        entry["subField"] = [field_entry(record_set, f.name, f.type, file_set, column) for f in arrow]
    else:
        entry["dataType"] = data_type(arrow)
    entry["source"] = source
    return entry


def record_set(config: str, description: str, schema: pa.Schema) -> tuple[dict[str, Any], dict[str, Any]]:
    """The FileSet of a configuration's Parquet files and its RecordSet (a ``split`` field, then the columns)."""
    file_set = f"files-{config}"
    files = {"@type": "cr:FileSet", "@id": file_set, "name": file_set, "description": f"The Parquet files of `{config}`.",
             "encodingFormat": PARQUET, "includes": f"data/{config}/*.parquet"}
    split = {"@type": "cr:Field", "@id": f"{config}/split", "name": "split", "dataType": "sc:Text",
             "description": "The split, read from the file name.",
             "source": {"fileSet": {"@id": file_set}, "extract": {"fileProperty": "filename"}, "transform": {"regex": SPLIT_REGEX}}}
    fields = [split] + [field_entry(config, f.name, f.type, file_set) for f in schema]
    return files, {"@type": "cr:RecordSet", "@id": config, "name": config, "description": description, "field": fields}


def license_record_set(licences: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """Task -> its SUP-NATINST ``Instance License`` (inline data: the licences differ between tasks)."""
    rows = [{"task_licenses/task_name": task, "task_licenses/license": ", ".join(names) or NOT_STATED}
            for task, names in sorted(licences.items())]
    return {"@type": "cr:RecordSet", "@id": "task_licenses", "name": "task_licenses", "key": {"@id": "task_licenses/task_name"},
            "description": "The licence of each task's instances (SUP-NATINST `Instance License`): it differs between tasks.",
            "field": [{"@type": "cr:Field", "@id": f"task_licenses/{name}", "name": name, "dataType": "sc:Text"}
                      for name in ("task_name", "license")],
            "data": rows}


def rai_fields(manifest: Mapping[str, Any], ratings: Mapping[str, Any] | None) -> dict[str, Any]:
    """The Croissant RAI properties that apply: how the steps were made, and how they were rated."""
    steps = (manifest.get("inputs") or {}).get("steps")
    rai: dict[str, Any] = {
        "rai:dataPreprocessingProtocol": provenance(manifest),
        "rai:dataCollection": "Tasks, definitions, examples and instances from SUP-NATINST (Super-NaturalInstructions v2); "
                              "instances sampled per task with the seed in the provenance.",
        "rai:dataCollectionType": ["Secondary Data Analysis"],
        "rai:dataUseCases": "Instruction tuning and cross-task generalization: train on the train tasks, evaluate on the "
                            "unseen test tasks with exact match and ROUGE-L.",
    }
    if steps:
        rai["rai:dataCollectionType"].append("Machine-generated")
        rai["rai:machineAnnotationTools"] = [f"{model} (prompt version {version})" for model in steps.get("models", {})
                                             for version in steps.get("prompt_versions", {})]
        rai["rai:dataPreprocessingProtocol"].append(
            f"Step-by-step instructions generated from each task's definition: models {_counts(steps.get('models'))}; "
            f"prompt versions {_counts(steps.get('prompt_versions'))}.")
    if ratings:
        rai["rai:dataAnnotationProtocol"] = (f"Human ratings of each task's steps on the rubric `{ratings['rubric']}`, integers "
                                             f"per criterion: " + "; ".join(f"{c}: {d}" for c, d in ratings["criteria"].items()))
        rai["rai:annotationsPerItem"] = f"{ratings['records'] / max(1, ratings['tasks']):.2f} ratings per rated task on average"
        rai["rai:annotatorDemographics"] = f"{ratings['annotators']} annotators (ids only; no demographics recorded)"
        agreement = ratings.get("agreement")
        rai["rai:dataAnnotationAnalysis"] = (
            "Krippendorff's alpha (ordinal) between human annotators: "
            + (", ".join(f"{c} {a:.3f}" for c, a in agreement.items()) if agreement else "not computed (fewer than 2 annotators per task)"))
    return rai


def _counts(counts: Mapping[str, int] | None) -> str:
    return ", ".join(f"{name} ({n} tasks)" for name, n in (counts or {}).items()) or "none recorded"


def croissant_metadata(schemas: Mapping[str, pa.Schema], manifest: Mapping[str, Any], descriptions: Mapping[str, str],
                       licences: Mapping[str, Sequence[str]], ratings: Mapping[str, Any] | None, citation: str,
                       url: str, name: str = "stepinst") -> dict[str, Any]:
    """The Croissant JSON-LD of a release.

    Args:
        schemas: each configuration's Arrow schema (read from its data files).
        manifest: the build manifest's content (files, their sha256, inputs, parameters, versions).
        descriptions: configuration -> description (the config table's).
        licences: task -> its instance licences.
        ratings: ``rubric``, ``criteria`` (name -> description), ``records``, ``tasks``, ``annotators``,
            ``agreement`` (criterion -> alpha); None without ratings.
        citation: the BibTeX of the release.
        url: where the dataset lives (its Hub page).
    """
    distribution, record_sets = [], []
    for config, entry in manifest["configs"].items():
        for split, path in entry["files"].items():
            distribution.append({"@type": "cr:FileObject", "@id": path, "name": path, "contentUrl": path,
                                 "encodingFormat": PARQUET, "sha256": entry["sha256"][split],
                                 "description": f"`{config}`, {split} split: {entry['num_examples'][split]} rows."})
    for config in manifest["configs"]:
        files, records = record_set(config, descriptions.get(config, config), schemas[config])
        distribution.append(files)
        record_sets.append(records)
    distinct = sorted({", ".join(names) or NOT_STATED for names in licences.values()})
    if len(distinct) > 1:
        record_sets.append(license_record_set(licences))
    return {
        "@context": CONTEXT, "@type": "sc:Dataset", "conformsTo": CONFORMS_TO, "name": name,
        "description": "SUP-NATINST (Super-NaturalInstructions v2) with step-by-step instructions for every task and their "
                       "human quality ratings, one configuration per way of showing them to a model.",
        "url": url, "version": manifest.get("stepinst_version", "0.0.0"),
        "license": distinct if len(distinct) > 1 else distinct[0] if distinct else NOT_STATED,
        "citeAs": citation.strip(),
        "isBasedOn": ["https://github.com/allenai/natural-instructions", "https://arxiv.org/abs/2305.04429"],
        "distribution": distribution, "recordSet": record_sets,
        **rai_fields(manifest, ratings),
    }


def provenance(manifest: Mapping[str, Any]) -> list[str]:
    """What the manifest says the release was built from, by content, and with what."""
    inputs, parameters = manifest.get("inputs") or {}, manifest.get("plan") or {}
    natinst, steps, ratings = inputs.get("natinst"), inputs.get("steps"), inputs.get("ratings")
    lines = []
    if natinst:
        where = f"archive {natinst.get('url')} (sha256 {natinst.get('archive_sha256')})" if natinst.get("url") else "a folder checkout"
        lines.append(f"SUP-NATINST: {where}; digest of the {natinst.get('num_files')} files read: {natinst.get('digest')}.")
    if steps:
        lines.append(f"Steps store {steps['file']}: sha256 {steps['sha256']}, {steps['records_used']} records used.")
    if ratings:
        lines.append(f"Ratings store {ratings['file']}: sha256 {ratings['sha256']}, {ratings['records']} records.")
    if parameters.get("sampling"):
        lines.append(f"Sampling: {json.dumps(parameters['sampling'], sort_keys=True)}.")
    lines.append("Built with " + ", ".join(f"{k} {v}" for k, v in (manifest.get("versions") or {}).items())
                 + "; every parameter is in stepinst_build.json (`stepinst build --like` replays it).")
    return lines


# --- gathering the inputs from a release folder, writing and checking ------------------------------


def ratings_info(store, agreement: Mapping[str, float] | None) -> dict[str, Any]:
    """What the RAI fields say about a ratings store (``store``: a RatingsStore)."""
    return {"rubric": store.rubric.name, "criteria": {c.name: c.description for c in store.rubric.criteria},
            "records": len(store.records), "tasks": len({r["task_name"] for r in store.records}),
            "annotators": len({r["annotator"] for r in store.records}), "agreement": agreement}


def folder_schemas(folder: Path, manifest: Mapping[str, Any]) -> dict[str, pa.Schema]:
    """Each configuration's Arrow schema, read from its first data file (all splits share it)."""
    return {config: pq.read_schema(folder / next(iter(entry["files"].values())))
            for config, entry in manifest["configs"].items() if entry["files"]}


def manifest_content(manifest: Any) -> dict[str, Any]:
    """The manifest (a :class:`~stepinst_data.dataset.manifest.Manifest`) as the plain values Croissant is made of."""
    import msgspec

    return manifest if isinstance(manifest, Mapping) else msgspec.to_builtins(manifest)


def write_croissant(folder: str | os.PathLike, manifest: Any, licences: Mapping[str, Sequence[str]],
                    ratings: Mapping[str, Any] | None, citation: str, repo_id: str) -> Path:
    """Write ``folder/croissant.json`` from the build's manifest and data files (called at the end of a build)."""
    folder, content = Path(folder), manifest_content(manifest)
    descriptions = {c["name"]: c.get("description") or c["name"] for c in (content.get("plan") or {}).get("configs") or []}
    metadata = croissant_metadata(folder_schemas(folder, content), content, descriptions, licences, ratings, citation,
                                  f"https://huggingface.co/datasets/{repo_id}", name=repo_id.split("/")[-1])
    path = folder / CROISSANT
    path.write_text(json.dumps(metadata, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def croissant_problems(folder: str | os.PathLike, manifest: Any) -> list[str]:
    """How ``folder/croissant.json`` disagrees with the folder: files, their sha256, configurations and columns."""
    folder, manifest = Path(folder), manifest_content(manifest)
    path = folder / CROISSANT
    if not path.is_file():
        return [f"{CROISSANT}: missing; rebuild the folder with `stepinst build` (every build writes it)"]
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        return [f"{CROISSANT}: not valid JSON ({e}); rebuild the folder with `stepinst build`"]
    problems = []
    objects = {d.get("contentUrl"): d.get("sha256") for d in metadata.get("distribution", []) if d.get("@type") == "cr:FileObject"}
    expected = {p: entry.get("sha256", {}).get(s) for entry in manifest["configs"].values() for s, p in entry["files"].items()}
    for name in sorted(set(expected) ^ set(objects)):
        problems.append(f"{CROISSANT}: {name} is {'not listed' if name in expected else 'listed but not a data file of this build'}")
    for name in sorted(set(expected) & set(objects)):  # verify's check_files ties each file to the manifest's sha256
        recorded = expected[name] or (sha256_file(folder / name) if (folder / name).is_file() else None)
        if objects[name] != recorded:
            problems.append(f"{CROISSANT}: {name} has sha256 {objects[name]}, the build recorded {recorded}")
    record_sets = {r.get("@id"): r for r in metadata.get("recordSet", []) if r.get("@id") != "task_licenses"}
    if set(record_sets) != set(manifest["configs"]):
        problems.append(f"{CROISSANT}: RecordSets {sorted(record_sets)}, configurations {sorted(manifest['configs'])}")
    for config, schema in folder_schemas(folder, manifest).items():
        fields = [f.get("name") for f in record_sets.get(config, {}).get("field", [])]
        if config in record_sets and fields != ["split", *schema.names]:
            problems.append(f"{CROISSANT}: RecordSet {config!r} has the fields {fields}, its files the columns {schema.names}")
    return problems


def write_release_croissant(folder: str | os.PathLike, manifest: Any, inputs, repo_id: str) -> Path:
    """``croissant.json`` of a build from its manifest and inputs (a BuildInputs): licences, ratings and their agreement."""
    licences = {task.name: list(task.instance_license) for task in inputs.table.infos}
    ratings = ratings_info(inputs.ratings, agreement(inputs.ratings)) if inputs.ratings is not None else None
    return write_croissant(folder, manifest, licences, ratings, citation_bib(), repo_id)
