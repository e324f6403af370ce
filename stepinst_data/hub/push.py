"""Push a folder built by ``stepinst build`` to a dataset repository on the Hugging Face Hub.

* Nothing is sent before the folder passes :func:`.card_check.assert_pushable` (the card parses
  and carries valid Hub metadata; every configuration loads).
* One commit per push, made with huggingface_hub's own primitives: the data files are pre-uploaded
  in chunks (``preupload_lfs_files``), then a single ``create_commit`` adds every file
  (``CommitOperationAdd``) and deletes the repo's stale ``data/`` files (``CommitOperationDelete``;
  the digest in each Parquet name changes with its content, so old names would pile up).
  ``HfApi.upload_folder`` makes the same one commit but pre-uploads everything in one round, so an
  interrupted push of a large folder starts over; ``upload_large_folder`` resumes but makes many
  commits. What stays here is only what neither does: the chunked rounds, the checks before
  anything is sent, and the stale-file plan that ``--dry-run`` also lists.
* Resumable: an interrupted push is rerun with the same command. Data files whose content the
  Hub already holds are not sent again (the LFS batch answer has no upload action for them), and
  files already committed unchanged are dropped from the commit.
  Any Hub or network error ends in a :class:`PushError` that says to rerun. The tests run this
  through the LFS upload path (Xet disabled); with ``hf_xet`` installed the client uploads
  through Xet, which also skips content the Hub already holds, but that path is untested here.
* The token comes from ``HF_TOKEN`` or the login cache (``hf auth login``); it is never printed,
  and a read-only token is refused before anything is sent.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..card.check import assert_pushable, local_files
from ..dataset.plan import PlanError, check_repo_id

logger = logging.getLogger(__name__)

REPO_TYPE = "dataset"
DEFAULT_CHUNK_SIZE = 50  # files per pre-upload round: progress is kept on the Hub between rounds


class PushError(ValueError):
    """A push that cannot start or finish; the message says why and what to do."""


@dataclass
class PushPlan:
    """What a push sends: files (path in repo -> local path) and the stale repo files it deletes."""

    folder: Path
    files: dict[str, Path]
    deletions: list[str] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.files.values())

    def describe(self) -> str:
        lines = [f"{p.stat().st_size:>12,}  {name}" for name, p in self.files.items()]
        lines += [f"{'delete':>12}  {name}" for name in self.deletions]
        lines.append(f"{len(self.files)} files, {self.total_bytes:,} bytes")
        return "\n".join(lines)


@dataclass
class PushResult:
    repo_id: str
    revision: str
    commit_url: str | None
    commit_oid: str | None
    plan: PushPlan
    changed: bool = True  # False when the repo already held exactly these files (no new commit)


def resolve_token(token: str | None = None) -> str:
    """The token to push with: given, ``HF_TOKEN``, or the login cache."""
    from huggingface_hub import get_token

    token = token or get_token()
    if not token:
        raise PushError("no Hugging Face token found: run `hf auth login` or set HF_TOKEN (a token with write access)")
    return token


def _check_token(api, repo_id: str) -> None:
    from huggingface_hub.errors import HfHubHTTPError

    try:
        user = api.whoami()
    except HfHubHTTPError as e:
        status = e.response.status_code if e.response is not None else None
        if status == 401:
            raise PushError("the Hub refused the token (401): run `hf auth login` again or set HF_TOKEN to a valid write token") from None
        raise
    role = ((user.get("auth") or {}).get("accessToken") or {}).get("role")
    if role == "read":
        raise PushError("the token is read-only: create a token with write access (hf.co/settings/tokens) and run `hf auth login` or set HF_TOKEN")
    logger.info("pushing to %s as %s", repo_id, user.get("name", "?"))


def _warn_on_card_repo_id(folder: Path, repo_id: str) -> None:
    """The card's quick start names the repo it was built for; say so when pushing elsewhere."""
    match = re.search(r'load_dataset\("([^"]+)"', (folder / "README.md").read_text(encoding="utf-8"))
    if match and match.group(1) != repo_id:
        logger.warning(
            "the card's quick start loads %r, not %r; rebuild with `stepinst build --repo %s` to fix it",
            match.group(1), repo_id, repo_id,
        )


def plan_push(folder: str | os.PathLike, remote_files: Sequence[str] = ()) -> PushPlan:
    """The upload plan of ``folder`` against the files the repo already has."""
    files = local_files(folder)
    stale = sorted(p for p in remote_files if p.startswith("data/") and p not in files)
    return PushPlan(Path(folder), files, stale)


def push_folder(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    dry_run: bool = False,
    token: str | None = None,
    endpoint: str | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    commit_message: str | None = None,
) -> PushResult:
    """Validate ``folder`` and upload it to the dataset repo ``repo_id`` in one commit.

    Args:
        private: create the repo private (an existing repo keeps its visibility).
        revision: the branch to commit to (created from ``main`` when missing); default ``main``.
        dry_run: validate and return the plan; no request is made and no token is needed.
        endpoint: the Hub URL (default: ``HF_ENDPOINT`` or https://huggingface.co).
        chunk_size: files pre-uploaded per round.
    """
    try:
        check_repo_id(repo_id)
    except PlanError as e:  # the one check of a repo id, a push's error
        raise PushError(str(e)) from None
    assert_pushable(folder)
    _warn_on_card_repo_id(Path(folder), repo_id)
    branch = revision or "main"
    if dry_run:
        return PushResult(repo_id, branch, None, None, plan_push(folder))

    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi(endpoint=endpoint, token=resolve_token(token))
    network_errors = (OSError, *HfHubHTTPError.__bases__)  # HTTP statuses, and the HTTP client's own errors
    try:
        return _upload(api, Path(folder), repo_id, branch, private, chunk_size, commit_message)
    except (*network_errors, RuntimeError) as e:
        # the client wraps a failed file upload in a RuntimeError("Error while uploading ...")
        if isinstance(e, RuntimeError) and not isinstance(e.__cause__, network_errors):
            raise
        cause = f" ({type(e.__cause__).__name__}: {e.__cause__})" if e.__cause__ is not None else ""
        raise PushError(
            f"the push to datasets/{repo_id} ({branch}) stopped: {type(e).__name__}: {e}{cause}\n"
            "Nothing is lost: rerun the same command to finish; files that already arrived are not sent again."
        ) from e


def _upload(api, folder: Path, repo_id: str, branch: str, private: bool, chunk_size: int, commit_message: str | None) -> PushResult:
    """Create the repo/branch, pre-upload the files in chunks, then make the one commit."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete
    from huggingface_hub.errors import RevisionNotFoundError
    from huggingface_hub.utils import chunk_iterable

    _check_token(api, repo_id)
    api.create_repo(repo_id, repo_type=REPO_TYPE, private=private, exist_ok=True)
    if branch != "main":
        api.create_branch(repo_id, branch=branch, repo_type=REPO_TYPE, exist_ok=True)
    try:
        remote = api.list_repo_files(repo_id, repo_type=REPO_TYPE, revision=branch)
        head = api.repo_info(repo_id, repo_type=REPO_TYPE, revision=branch).sha
    except RevisionNotFoundError:  # a repo without any commit yet
        remote, head = [], None
    plan = plan_push(folder, remote)
    additions = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(path)) for name, path in plan.files.items()]
    rounds = max(1, -(-len(additions) // chunk_size))
    for number, chunk in enumerate(chunk_iterable(additions, chunk_size), start=1):
        chunk = list(chunk)
        logger.info("pre-uploading files, round %d/%d (%d files)", number, rounds, len(chunk))
        api.preupload_lfs_files(repo_id, additions=chunk, repo_type=REPO_TYPE, revision=branch, free_memory=False)
    deletions = [CommitOperationDelete(path_in_repo=name) for name in plan.deletions]
    info = api.create_commit(
        repo_id,
        operations=[*additions, *deletions],
        commit_message=commit_message or f"Upload stepinst dataset ({len(plan.files)} files)",
        repo_type=REPO_TYPE,
        revision=branch,
    )
    return PushResult(repo_id, branch, info.commit_url, info.oid, plan, changed=info.oid != head)
