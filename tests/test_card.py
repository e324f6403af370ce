"""The rendered dataset card validates locally, carries the build's real figures, and cites correctly.

The Hub's own validation endpoint is unreachable here, so "validates" means: the card parses with
``huggingface_hub``'s ``DatasetCard``, every metadata key the Hub expects is there with a value
from the Hub's vocabularies, and ``datasets`` reads its ``configs``/``dataset_info``.
"""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import pytest
import yaml
from datasets import get_dataset_config_names, load_dataset
from huggingface_hub import DatasetCard

from stepinst_data.resources import citation_bib
from stepinst_data.card.check import check_folder, check_metadata
from stepinst_data.card.hub_metadata import REQUIRED_KEYS
from stepinst_data.ratings.agreement import annotators, ordinal_alpha, reliability_matrix
from stepinst_data.stores.ratings import read_ratings_store
from stepinst_data.sample import SAMPLE_RATINGS, SAMPLE_STEPS
from stepinst_data.stores.steps import read_steps_store

ROOT = Path(__file__).resolve().parent.parent


def _card(folder: Path) -> DatasetCard:
    return DatasetCard.load(folder / "README.md")


def test_rendered_card_passes_every_local_check(sample_build, hub_env):
    assert check_folder(sample_build) == []
    meta = _card(sample_build).data.to_dict()
    assert all(meta.get(key) for key in REQUIRED_KEYS)
    assert meta["license"] == "apache-2.0" and meta["language"] == ["en"]
    assert meta["size_categories"] == ["n<1K"]  # 302 train rows in the largest config
    assert meta["source_datasets"] == ["extended|natural-instructions"]
    names = [c["config_name"] for c in meta["configs"]]
    assert names == get_dataset_config_names(str(sample_build))
    assert {"definition", "steps_ordered", "steps_shuffled", "steps_reversed", "ratings"} <= set(names)


def test_metadata_checker_names_each_bad_value():
    meta = {"license": "apache", "language": ["english"], "task_categories": ["chatting"], "size_categories": ["big"]}
    problems = check_metadata(meta)
    assert "README.md: YAML header lacks `pretty_name`" in problems
    assert any("license 'apache'" in p for p in problems)
    assert any("task_categories value 'chatting'" in p for p in problems)
    assert any("size_categories value 'big'" in p for p in problems)
    more = check_metadata({"license": "other", "annotations_creators": ["robots"], "multilinguality": "bilingual"})
    assert any("license 'other' needs a `license_name`" in p for p in more)
    assert any("annotations_creators value 'robots'" in p for p in more)
    assert any("multilinguality 'bilingual'" in p for p in more)


@pytest.mark.parametrize("rows, bucket", [(0, "n<1K"), (999, "n<1K"), (1000, "1K<n<10K"), (85_103, "10K<n<100K"), (2_000_000, "1M<n<10M")])
def test_size_category_follows_the_hub_buckets(rows, bucket):
    from stepinst_data.card.render import _size_category

    assert _size_category(rows) == bucket


def test_card_tables_carry_the_real_row_counts(sample_build, hub_env):
    text = _card(sample_build).text
    for name in ("definition", "steps_ordered", "steps_ordered_hq", "ratings"):
        data = load_dataset(str(sample_build), name)
        row = next(line for line in text.splitlines() if line.startswith(f"| `{name}` | ") and "rows" not in line)
        assert row.rstrip(" |").endswith(f"| {data['train'].num_rows} | {data['test'].num_rows}"), row
    train = load_dataset(str(sample_build), "definition", split="train")
    assert f"| train | {len(set(train['task_name']))} | {len(set(train['category']))} | {train.num_rows} |" in text


def test_card_carries_the_steps_and_agreement_figures(sample_build, hub_env):
    text = _card(sample_build).text
    counts = sorted(len(r.steps) for r in read_steps_store(SAMPLE_STEPS).values())
    assert f"Steps per task: min {counts[0]}," in text and f", max {counts[-1]}." in text
    store = read_ratings_store(SAMPLE_RATINGS)
    humans = annotators(store.records)
    for criterion in store.rubric.criterion_names:
        alpha = ordinal_alpha(reliability_matrix(store.records, criterion, humans), store.rubric)
        assert re.search(rf"\| `{criterion}` \|.*\| {alpha:.3f} \|", text), criterion
    assert "36 ratings of 12 tasks by 3 annotators" in text


def test_card_cites_the_paper_supernatinst_and_the_release(sample_build, hub_env):
    text = _card(sample_build).text
    bib = citation_bib().strip()
    assert bib in text
    assert re.findall(r"^@\w+\{(\w+),", bib, flags=re.M) == ["wu2023stepbystep", "wang2022supernaturalinstructions", "stepinst2026"]
    assert "arXiv:2305.04429" in bib and "10.18653/v1/2022.emnlp-main.340" in bib


def test_citation_cff_agrees_with_the_bibtex_and_the_package():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert cff["cff-version"] == "1.2.0" and {"message", "title", "authors"} <= set(cff)
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    assert cff["version"] == setup["metadata"]["version"]
    paper = cff["preferred-citation"]
    bib = citation_bib()
    assert paper["title"] in bib and paper["url"] in bib
    families = [a["family-names"] for a in paper["authors"]]
    paper_authors = re.search(r"author\s*=\s*\{(.+?)\},\n", bib).group(1)
    assert [name.split(",")[0].strip() for name in paper_authors.split(" and ")] == families
    supernatinst = cff["references"][0]
    assert supernatinst["doi"] in bib
    entry = bib[bib.index("@inproceedings{wang2022"):]
    listed = re.search(r"author\s*=\s*\{(.+?)\},\n", entry).group(1).split(" and ")
    assert [a["family-names"] for a in supernatinst["authors"]] == [name.split(",")[0].strip() for name in listed]


def test_readme_cites_the_paper_as_the_bibtex_does():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    bib = citation_bib()
    authors = re.search(r"author\s*=\s*\{(.+?)\},\n", bib).group(1)
    assert "@article{wu2023stepbystep," in readme and authors in readme
    assert "Improving Cross-Task Generalization with Step-by-Step Instructions" in readme


def test_card_cost_prices_batch_requests_at_half_price():
    from stepinst_data.card.sections import _cost
    from stepinst_data.generation.tokens import resolve_price
    from stepinst_data.stores.steps import StepsRecord

    usage = {"prompt_tokens": 1_000_000, "completion_tokens": 1_000_000, "total_tokens": 2_000_000, "requests": 1}
    direct = StepsRecord("t1", ["a", "b"], "", "gpt-4o-mini", "steps-v1", "0" * 64, "", dict(usage))
    batched = StepsRecord("t2", ["a", "b"], "", "gpt-4o-mini", "steps-v1", "0" * 64, "", {**usage, "batch_requests": 1})
    price = resolve_price("gpt-4o-mini")
    assert _cost([direct]) == pytest.approx(price.input + price.output)
    assert _cost([batched]) == pytest.approx((price.input + price.output) / 2)
