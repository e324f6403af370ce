"""croissant.json: every build writes Croissant 1.1 that MLCommons' own validator accepts, whose RecordSets load the
rows `load_dataset` loads, with the real sha256 of each data file; `verify` checks it against the folder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from release_helpers import fresh_copy
from stepinst_data.cli import main
from stepinst_data.source.digest import sha256_file

mlc = pytest.importorskip("mlcroissant")


def _croissant(folder: Path) -> dict:
    return json.loads((folder / "croissant.json").read_text())


def test_every_build_writes_croissant_that_mlcroissant_validates(sample_build):
    done = subprocess.run([sys.executable, "-m", "mlcroissant.scripts.validate", "--jsonld", str(sample_build / "croissant.json")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Done." in done.stderr and "error" not in done.stderr.lower()
    metadata = _croissant(sample_build)
    assert metadata["conformsTo"] == "http://mlcommons.org/croissant/1.1"
    manifest = json.loads((sample_build / "stepinst_build.json").read_text())
    listed = {d["contentUrl"]: d["sha256"] for d in metadata["distribution"] if d["@type"] == "cr:FileObject"}
    assert set(listed) == {p for entry in manifest["configs"].values() for p in entry["files"].values()}
    assert all(sha == sha256_file(sample_build / path) for path, sha in listed.items())  # real checksums, not placeholders
    assert [r["@id"] for r in metadata["recordSet"]][:-1] == list(manifest["configs"])


def _plain(value):
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k.rsplit("/", 1)[-1]: _plain(v) for k, v in value.items()}
    return value


@pytest.mark.parametrize("config", ["definition_pos", "steps_shuffled", "ratings"])
def test_a_record_set_yields_the_rows_load_dataset_yields(sample_build, hf_cache, config):
    import datasets

    records = mlc.Dataset(jsonld=str(sample_build / "croissant.json")).records(record_set=config)
    by_split: dict[str, list[dict]] = {}
    for record in records:
        row = _plain(record)
        by_split.setdefault(row.pop("split"), []).append(row)
    loaded = datasets.load_dataset(str(sample_build), config, cache_dir=hf_cache)
    assert sorted(by_split) == sorted(loaded)
    for split, rows in loaded.items():
        expected = [dict(r) for r in rows]
        if config != "ratings":  # instance rows: positive examples are lists of {input, output, explanation}
            assert any(r["positive_examples"] for r in expected) or config != "definition_pos"
        assert by_split[split] == expected


def test_croissant_carries_licences_citation_provenance_and_rai(sample_build):
    metadata = _croissant(sample_build)
    manifest = json.loads((sample_build / "stepinst_build.json").read_text())
    licences = {r["task_licenses/task_name"]: r["task_licenses/license"]
                for r in next(r for r in metadata["recordSet"] if r["@id"] == "task_licenses")["data"]}
    card = (sample_build / "README.md").read_text()
    assert licences and all(f"| `{task}` | " in card and f" | {lic} |" in card for task, lic in licences.items())
    assert sorted(metadata["license"]) == sorted(set(licences.values()))
    assert metadata["citeAs"].startswith("@") and "2305.04429" in json.dumps(metadata)
    steps = manifest["inputs"]["steps"]
    assert metadata["rai:machineAnnotationTools"] == [f"{m} (prompt version {v})" for m in steps["models"] for v in steps["prompt_versions"]]
    protocol = " ".join(metadata["rai:dataPreprocessingProtocol"])
    assert steps["sha256"] in protocol and manifest["inputs"]["ratings"]["sha256"] in protocol
    assert manifest["inputs"]["natinst"]["digest"] in protocol
    assert metadata["rai:annotatorDemographics"].startswith(f"{manifest['inputs']['ratings']['annotators']} annotators")
    assert "Krippendorff's alpha" in metadata["rai:dataAnnotationAnalysis"] and "overall" in metadata["rai:dataAnnotationProtocol"]


def test_verify_names_a_croissant_that_disagrees_with_the_folder(sample_build, tmp_path, capsys):
    from stepinst_data.sample import SAMPLE_NATINST, SAMPLE_RATINGS, SAMPLE_STEPS

    folder = fresh_copy(sample_build, tmp_path)
    metadata = _croissant(folder)
    changed = next(d for d in metadata["distribution"] if d["@type"] == "cr:FileObject")
    changed["sha256"] = "0" * 64
    (folder / "croissant.json").write_text(json.dumps(metadata))
    args = ["verify", str(folder), "--natinst", str(SAMPLE_NATINST), "--steps", str(SAMPLE_STEPS), "--ratings", str(SAMPLE_RATINGS)]
    assert main(args) == 1
    assert f"croissant.json: {changed['contentUrl']} has sha256 {'0' * 64}, the build recorded {sha256_file(folder / changed['contentUrl'])}" in capsys.readouterr().out
    (folder / "croissant.json").unlink()
    assert main(args) == 1
    assert "croissant.json: missing; rebuild the folder with `stepinst build`" in capsys.readouterr().out
