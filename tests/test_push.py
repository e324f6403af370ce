"""``stepinst push`` against a local Hub (tests/fake_hub.py) with the real huggingface_hub client."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fake_hub import FakeHub
from release_helpers import build_sample, fresh_copy, subprocess_env
from stepinst_data.card.check import FolderCheckError
from stepinst_data.hub.push import PushError, local_files, push_folder

TOKEN = "test-token"
REPO = "my-org/stepinst"


@pytest.fixture
def hub():
    with FakeHub(tokens={TOKEN}) as server:
        yield server


def _push(folder: Path, hub: FakeHub, **kwargs):
    return push_folder(folder, REPO, token=TOKEN, endpoint=hub.url, **kwargs)


def _parquet_blobs(folder: Path) -> set[str]:
    import hashlib

    return {hashlib.sha256(p.read_bytes()).hexdigest() for p in (folder / "data").rglob("*.parquet")}


def test_push_uploads_every_file_in_one_commit(sample_build, hub_env, hub):
    result = _push(sample_build, hub, chunk_size=6)

    local = {name: path.read_bytes() for name, path in local_files(sample_build).items()}
    remote = hub.files(REPO)
    assert remote.pop(".gitattributes")
    assert remote == local  # byte for byte, README.md and stepinst_build.json included
    assert len(local) == 23  # README, manifest, croissant.json, 10 configs x 2 splits
    assert len(hub.commits) == 1
    commit = hub.commits[0]
    assert result.commit_oid == commit["oid"] and result.revision == "main"
    kinds = {op["value"]["path"]: op["key"] for op in commit["operations"]}
    assert kinds["README.md"] == "file" and kinds["stepinst_build.json"] == "file"
    assert {k for p, k in kinds.items() if p.startswith("data/")} == {"lfsFile"}
    # Pre-uploaded in ceil(20 / 6) = 4 rounds (create_commit does not ask again), each blob sent once.
    assert len(hub.requests_to(r"/preupload/")) == 4
    assert sorted(set(hub.lfs_puts)) == sorted(_parquet_blobs(sample_build))
    assert hub.validated_yaml and "config_name: steps_ordered" in hub.validated_yaml[0]
    assert hub.repos[("dataset", REPO)].private is False


def test_private_repo_on_a_new_branch(sample_build, hub_env, hub):
    _push(sample_build, hub, private=True, revision="v0.1")

    repo = hub.repos[("dataset", REPO)]
    assert repo.private is True
    assert set(repo.branches["main"]) == {".gitattributes"}  # main untouched
    assert "README.md" in repo.branches["v0.1"]
    assert hub.commits[0]["branch"] == "v0.1"


def test_rerun_after_a_failed_commit_sends_no_blob_again(sample_build, hub_env, hub):
    hub.fail_commits = 1
    with pytest.raises(PushError, match=r"(?s)500.*rerun the same command to finish"):
        _push(sample_build, hub)
    uploaded = list(hub.lfs_puts)
    assert set(uploaded) == _parquet_blobs(sample_build) and not hub.commits

    _push(sample_build, hub)

    assert hub.lfs_puts == uploaded  # nothing re-sent
    assert len(hub.commits) == 1
    assert hub.files(REPO)["README.md"] == (sample_build / "README.md").read_bytes()


def test_rerun_after_an_interrupted_upload_sends_only_the_rest(sample_build, hub_env, hub):
    hub.fail_lfs_puts_after = 5
    with pytest.raises(PushError, match=r"(?s)simulated interruption.*rerun the same command"):
        _push(sample_build, hub, chunk_size=4)
    assert len(hub.lfs_puts) == 5 and not hub.commits

    hub.fail_lfs_puts_after = None
    _push(sample_build, hub, chunk_size=4)

    first, rerun = set(hub.lfs_puts[:5]), hub.lfs_puts[5:]
    assert not first & set(rerun)  # nothing the interrupted push sent is sent again
    assert set(hub.lfs_puts) == _parquet_blobs(sample_build)
    # every blob once, except a file identical to another one in the same chunk (an `_hq` control's test split
    # equals its full configuration's): huggingface_hub may send both of those
    assert len(rerun) <= len(_parquet_blobs(sample_build)) - len(first) + 1
    assert len(hub.commits) == 1


def test_pushing_a_rebuild_deletes_stale_data_files(sample_build, hub_env, hub, tmp_path):
    _push(sample_build, hub)
    rebuilt = build_sample(tmp_path / "stepinst", tmp_path / "cache", "--seed", "7")
    _push(rebuilt, hub)

    remote = hub.files(REPO)
    assert sorted(p for p in remote if p.startswith("data/")) == sorted(p for p in local_files(rebuilt) if p.startswith("data/"))
    deleted = [op["value"]["path"] for op in hub.commits[1]["operations"] if op["key"] == "deletedFile"]
    assert deleted and all(p.startswith("data/") and p not in remote for p in deleted)
    # The ratings files do not depend on the seed: same name, same content, not in the second commit.
    added = {op["value"]["path"] for op in hub.commits[1]["operations"] if op["key"] != "deletedFile"}
    assert not any(p.startswith("data/ratings/") for p in added)


def test_push_of_an_unchanged_folder_makes_no_new_commit(sample_build, hub_env, hub):
    first = _push(sample_build, hub)
    puts = len(hub.lfs_puts)
    second = _push(sample_build, hub)
    assert first.changed and not second.changed
    assert len(hub.commits) == 1 and second.commit_oid == first.commit_oid
    assert len(hub.lfs_puts) == puts


def test_cli_push_through_hf_endpoint_never_prints_the_token(sample_build, hub, tmp_path):
    env = subprocess_env(tmp_path, HF_ENDPOINT=hub.url, HF_TOKEN=TOKEN)
    cmd = [sys.executable, "-m", "stepinst_data.cli", "push", str(sample_build), "--repo", REPO, "--message", "release 0.1"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stderr
    assert f"pushed 23 files to datasets/{REPO} (main)" in done.stdout
    assert TOKEN not in done.stdout + done.stderr
    assert hub.commits[0]["header"]["summary"] == "release 0.1"


def test_dry_run_lists_the_files_and_sends_nothing(sample_build, hub_env, hub, capsys):
    from stepinst_data.cli import main

    assert main(["push", str(sample_build), "--repo", REPO, "--dry-run"]) == 0  # no token needed
    out = capsys.readouterr().out
    assert "dry run" in out and "data/steps_ordered/train-" in out and "23 files" in out
    assert hub.requests == []


def test_missing_token_says_how_to_log_in(sample_build, hub_env, hub):
    with pytest.raises(PushError, match=r"hf auth login.*HF_TOKEN"):
        push_folder(sample_build, REPO, endpoint=hub.url)
    assert hub.requests == []


def test_refused_token_says_so(sample_build, hub_env, hub):
    with pytest.raises(PushError, match="refused the token"):
        push_folder(sample_build, REPO, token="wrong-token", endpoint=hub.url)
    assert [r.path for r in hub.requests] == ["/api/whoami-v2"]


def test_read_only_token_is_refused_before_any_upload(sample_build, hub_env, hub):
    hub.read_only_tokens.add(TOKEN)
    with pytest.raises(PushError, match="read-only.*write access"):
        _push(sample_build, hub)
    assert [r.path for r in hub.requests] == ["/api/whoami-v2"]


@pytest.mark.parametrize("repo_id", ["bad repo", "org/name/extra", "org//name", "-org/name", "org/na..me", ""])
def test_malformed_repo_id_is_refused_before_any_request(sample_build, hub_env, hub, repo_id):
    with pytest.raises(PushError, match="not a valid repo id"):
        push_folder(sample_build, repo_id, token=TOKEN, endpoint=hub.url)
    assert hub.requests == []


def test_folder_not_built_by_stepinst_is_refused(tmp_path, hub_env, hub):
    folder = tmp_path / "mine"
    (folder / "data").mkdir(parents=True)
    (folder / "README.md").write_text("# my data\n")
    with pytest.raises(FolderCheckError, match="not built by `stepinst build`"):
        _push(folder, hub)
    assert hub.requests == []


def test_invalid_folder_is_refused_with_every_problem_listed(sample_build, hub_env, hub, tmp_path):
    folder = fresh_copy(sample_build, tmp_path)
    readme = folder / "README.md"
    text = readme.read_text().replace("license: apache-2.0", "license: apache").replace("- n<1K", "- tiny")
    readme.write_text(text)
    victim = next((folder / "data" / "definition").glob("train-*.parquet"))
    victim.unlink()
    (folder / "data" / "definition" / "old-0000.parquet").write_bytes(b"x")

    with pytest.raises(FolderCheckError) as err:
        _push(folder, hub)
    message = str(err.value)
    assert "license 'apache' is not a Hub licence id" in message
    assert "size_categories value 'tiny'" in message
    assert f"{victim.relative_to(folder).as_posix()} does not exist" in message
    assert "data/definition/old-0000.parquet: not referenced" in message
    assert "4 problem(s)" in message
    assert hub.requests == []


def test_manifest_is_what_the_build_wrote(sample_build, hub_env, hub):
    _push(sample_build, hub)
    manifest = json.loads(hub.files(REPO)["stepinst_build.json"])
    assert set(manifest["configs"]) >= {"definition", "steps_ordered", "steps_shuffled", "ratings"}
