"""A local stand-in for the Hugging Face Hub's upload API, for tests of ``stepinst push``.

It implements what the real ``huggingface_hub`` client calls on the path of
``HfApi.create_repo`` / ``create_branch`` / ``list_repo_files`` / ``preupload_lfs_files`` /
``create_commit`` / ``repo_info``, with the legacy LFS transfer (the client speaks it when Xet is
off: set ``huggingface_hub.constants.HF_HUB_DISABLE_XET = True`` or ``HF_HUB_DISABLE_XET=1``):

    GET  /api/whoami-v2                                  token check
    POST /api/repos/create                               409 when it exists
    POST /api/{type}s/{id}/branch/{branch}               409 when it exists
    GET  /api/{type}s/{id}/tree/{rev}[/{path}]           file listing (one page)
    GET  /api/{type}s/{id}[/revision/{rev}]              repo info (sha, siblings)
    POST /api/{type}s/{id}/preupload/{rev}               upload mode + remote oid per file
    POST /api/validate-yaml                              accepts (stepinst checks the card locally)
    POST /{type}s/{id}.git/info/lfs/objects/batch        no upload action for blobs already held
    PUT  /lfs/{oid}                                      stores a blob (sha256 checked)
    POST /lfs/verify                                     200
    POST /api/{type}s/{id}/commit/{rev}                  ndjson commit; LFS blobs must be present
    HEAD/GET /{type}s/{id}/resolve/{rev}/{path}          file download (hf_hub_download, snapshot_download)

A ``rev`` is a branch name or the commit sha at a branch's head.

Every request is recorded (``hub.requests``), LFS uploads in ``hub.lfs_puts``, commits in
``hub.commits`` and file requests in ``hub.downloads``. ``hub.fail_commits = 1`` makes the next commit fail with a 500, and
``hub.fail_lfs_puts_after = n`` rejects every LFS upload after the n-th: the two ways an upload
is interrupted, so a test can rerun and check what is (not) sent again.

Usage::

    with FakeHub(tokens={"test-token"}) as hub:
        HfApi(endpoint=hub.url, token="test-token").create_repo("org/x", repo_type="dataset")
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse

LFS_SUFFIXES = (".parquet", ".arrow", ".bin", ".safetensors")
LFS_MIN_SIZE = 10 * 1024 * 1024
GITATTRIBUTES = b"*.parquet filter=lfs diff=lfs merge=lfs -text\n"


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class StoredFile:
    size: int
    content: bytes | None = None  # regular files
    lfs_oid: str | None = None  # LFS files: sha256 of the content

    @property
    def oid(self) -> str:
        return self.lfs_oid or git_blob_sha1(self.content or b"")


@dataclass
class Repo:
    repo_type: str
    repo_id: str
    private: bool
    branches: dict[str, dict[str, StoredFile]] = field(default_factory=dict)
    heads: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    method: str
    path: str
    body_size: int


class FakeHub:
    """The server and its state; a context manager that serves on 127.0.0.1 in a thread."""

    def __init__(self, tokens: set[str] | None = None, user: str = "test-user", orgs: tuple[str, ...] = ("my-org",)):
        self.tokens = tokens or {"test-token"}
        self.read_only_tokens: set[str] = set()  # tokens whoami reports with role "read"
        self.user, self.orgs = user, orgs
        self.repos: dict[tuple[str, str], Repo] = {}
        self.lfs_objects: dict[str, bytes] = {}
        self.requests: list[Request] = []
        self.lfs_puts: list[str] = []
        self.commits: list[dict] = []
        self.downloads: list[tuple[str, str]] = []  # (HEAD or GET, path in repo) of every file request
        self.validated_yaml: list[str] = []
        self.fail_commits = 0
        self.fail_lfs_puts_after: int | None = None
        self.lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeHub:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- what tests read ---------------------------------------------------------------------
    def files(self, repo_id: str, branch: str = "main", repo_type: str = "dataset") -> dict[str, bytes]:
        """The committed content of every file of a branch."""
        repo = self.repos[(repo_type, repo_id)]
        return {
            path: (self.lfs_objects[f.lfs_oid] if f.lfs_oid else f.content or b"")
            for path, f in repo.branches[branch].items()
        }

    def requests_to(self, pattern: str) -> list[Request]:
        return [r for r in self.requests if re.search(pattern, r.path)]

    # --- state changes -----------------------------------------------------------------------
    def _new_sha(self, repo: Repo, branch: str, summary: str) -> str:
        seed = f"{repo.repo_id}\0{branch}\0{len(self.commits)}\0{summary}\0{repo.heads.get(branch, '')}"
        return hashlib.sha1(seed.encode()).hexdigest()

    def create_repo(self, repo_type: str, repo_id: str, private: bool) -> Repo:
        repo = Repo(repo_type, repo_id, private)
        repo.branches["main"] = {".gitattributes": StoredFile(len(GITATTRIBUTES), GITATTRIBUTES)}
        repo.heads["main"] = self._new_sha(repo, "main", "initial commit")
        self.repos[(repo_type, repo_id)] = repo
        return repo

    def apply_commit(self, repo: Repo, branch: str, lines: list[dict]) -> tuple[int, dict]:
        header = next((l["value"] for l in lines if l["key"] == "header"), {})
        files = dict(repo.branches[branch])
        for line in lines:
            key, value = line["key"], line["value"]
            if key == "file":
                content = base64.b64decode(value["content"])
                files[value["path"]] = StoredFile(len(content), content=content)
            elif key == "lfsFile":
                if value["oid"] not in self.lfs_objects:
                    return 422, {"error": f"LFS object {value['oid']} of {value['path']} was never uploaded"}
                files[value["path"]] = StoredFile(value["size"], lfs_oid=value["oid"])
            elif key == "deletedFile":
                if files.pop(value["path"], None) is None:
                    return 404, {"error": f"A file with this name doesn't exist: {value['path']}"}
            elif key == "deletedFolder":
                files = {p: f for p, f in files.items() if not p.startswith(value["path"].rstrip("/") + "/")}
        repo.branches[branch] = files
        sha = self._new_sha(repo, branch, header.get("summary", ""))
        repo.heads[branch] = sha
        self.commits.append({"repo_id": repo.repo_id, "branch": branch, "oid": sha, "header": header, "operations": lines[1:]})
        return 200, {"success": True, "commitOid": sha, "commitUrl": f"{self.url}/datasets/{repo.repo_id}/commit/{sha}", "pullRequestUrl": None}


_REPO = r"/api/(?P<type>model|dataset|space)s/(?P<id>[^/]+/[^/]+)"


def _handler_for(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *args) -> None:  # keep test output quiet
            pass

        # --- plumbing --------------------------------------------------------------------------
        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _send(self, status: int, payload: dict | list | None = None, headers: dict | None = None) -> None:
            data = json.dumps(payload if payload is not None else {}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str, code: str | None = None, **extra) -> None:
            headers = {"X-Error-Message": message, **({"X-Error-Code": code} if code else {})}
            self._send(status, {"error": message, **extra}, headers)

        def _authorized(self) -> bool:
            auth = self.headers.get("Authorization", "")
            if auth.startswith("Bearer ") and auth[len("Bearer "):] in hub.tokens:
                return True
            self._error(401, "Invalid credentials in Authorization header")
            return False

        def _repo(self, match: re.Match) -> Repo | None:
            repo = hub.repos.get((match["type"], unquote(match["id"])))
            if repo is None:
                self._error(404, "Repository not found", "RepoNotFound")
            return repo

        def _branch(self, repo: Repo, rev: str) -> str | None:
            rev = unquote(rev)
            rev = next((b for b, sha in repo.heads.items() if sha == rev), rev)  # a commit sha at a head
            if rev not in repo.branches:
                self._error(404, f"Invalid rev id: {rev}", "RevisionNotFound")
                return None
            return rev

        def _route(self, method: str) -> None:
            url = urlparse(self.path)
            body = self._body()
            with hub.lock:
                hub.requests.append(Request(method, url.path, len(body)))
                try:
                    self._dispatch(method, url.path, parse_qs(url.query), body)
                except Exception as e:  # a bug in the fake: report it loudly to the client
                    self._error(500, f"fake hub error: {type(e).__name__}: {e}")

        def do_GET(self) -> None:
            self._route("GET")

        def do_POST(self) -> None:
            self._route("POST")

        def do_PUT(self) -> None:
            self._route("PUT")

        def do_HEAD(self) -> None:
            self._route("HEAD")

        # --- endpoints -------------------------------------------------------------------------
        def _dispatch(self, method: str, path: str, query: dict, body: bytes) -> None:
            if method == "PUT" and (m := re.fullmatch(r"/lfs/(?P<oid>[0-9a-f]{64})", path)):
                return self._lfs_put(m["oid"], body)
            if method == "POST" and path == "/lfs/verify":
                return self._send(200, {})
            if not self._authorized():
                return
            if method == "GET" and path == "/api/whoami-v2":
                token = self.headers["Authorization"][len("Bearer "):]
                role = "read" if token in hub.read_only_tokens else "write"
                return self._send(200, {"type": "user", "name": hub.user, "orgs": [{"name": o} for o in hub.orgs],
                                        "auth": {"type": "access_token", "accessToken": {"role": role}}})
            if method == "POST" and path == "/api/repos/create":
                return self._create_repo(json.loads(body))
            if method == "POST" and path == "/api/validate-yaml":
                hub.validated_yaml.append(json.loads(body)["content"])
                return self._send(200, {"errors": [], "warnings": []})
            if method == "POST" and (m := re.fullmatch(r"/(?P<type>dataset|space)s/(?P<id>[^/]+/[^/]+)\.git/info/lfs/objects/batch", path)):
                return self._lfs_batch(json.loads(body))
            if method in ("GET", "HEAD") and (m := re.fullmatch(r"/(?P<type>dataset|space)s/(?P<id>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)", path)):
                return self._resolve(method, m)
            if not (m := re.match(_REPO, path)) or (repo := self._repo(m)) is None:
                return None if m else self._error(404, f"no route for {method} {path}")
            rest = path[m.end():]
            if method == "POST" and (r := re.fullmatch(r"/branch/(?P<b>.+)", rest)):
                return self._create_branch(repo, unquote(r["b"]))
            if method == "GET" and (r := re.fullmatch(r"/tree/(?P<rev>[^/]+)(?P<sub>/.*)?", rest)):
                return self._tree(repo, r["rev"], unquote((r["sub"] or "/")[1:]))
            if method == "GET" and (r := re.fullmatch(r"/revision/(?P<rev>.+)", rest)):
                return self._info(repo, r["rev"])
            if method == "GET" and rest == "":  # repo_info without a revision: the main branch
                return self._info(repo, "main")
            if method == "POST" and (r := re.fullmatch(r"/preupload/(?P<rev>.+)", rest)):
                return self._preupload(repo, r["rev"], json.loads(body))
            if method == "POST" and (r := re.fullmatch(r"/commit/(?P<rev>.+)", rest)):
                return self._commit(repo, r["rev"], body)
            return self._error(404, f"no route for {method} {path}")

        def _create_repo(self, payload: dict) -> None:
            repo_type = payload.get("type") or "model"
            repo_id = f"{payload.get('organization') or hub.user}/{payload['name']}"
            url = f"{hub.url}/{repo_type}s/{repo_id}"
            if (repo_type, repo_id) in hub.repos:  # the Hub names the existing repo in its 409 answer
                return self._error(409, "You already created this dataset repo", url=url)
            hub.create_repo(repo_type, repo_id, payload.get("visibility") == "private" or bool(payload.get("private")))
            self._send(200, {"url": url, "name": repo_id})

        def _create_branch(self, repo: Repo, branch: str) -> None:
            if branch in repo.branches:
                return self._error(409, f"Reference already exists: refs/heads/{branch}")
            repo.branches[branch] = dict(repo.branches["main"])
            repo.heads[branch] = repo.heads["main"]
            self._send(200, {})

        def _tree(self, repo: Repo, rev: str, sub: str) -> None:
            if (branch := self._branch(repo, rev)) is None:
                return
            prefix = sub.rstrip("/") + "/" if sub else ""
            entries = []
            for path, f in sorted(repo.branches[branch].items()):
                if path.startswith(prefix):
                    entry = {"type": "file", "path": path, "size": f.size, "oid": git_blob_sha1(f.content or b"")}
                    if f.lfs_oid:
                        entry["lfs"] = {"oid": f.lfs_oid, "size": f.size, "pointerSize": 134}
                    entries.append(entry)
            self._send(200, entries)

        def _info(self, repo: Repo, rev: str) -> None:
            if (branch := self._branch(repo, rev)) is None:
                return
            siblings = [{"rfilename": p} for p in sorted(repo.branches[branch])]
            self._send(200, {"id": repo.repo_id, "sha": repo.heads[branch], "private": repo.private, "siblings": siblings})

        def _resolve(self, method: str, match: re.Match) -> None:
            """A file's content, with the headers hf_hub_download reads (commit, etag, size)."""
            if (repo := self._repo(match)) is None or (branch := self._branch(repo, match["rev"])) is None:
                return
            stored = repo.branches[branch].get(unquote(match["file"]))
            if stored is None:
                return self._error(404, f"Entry not found: {match['file']}", "EntryNotFound")
            data = hub.lfs_objects[stored.lfs_oid] if stored.lfs_oid else stored.content or b""
            headers = {"X-Repo-Commit": repo.heads[branch], "ETag": f'"{stored.oid}"'}
            if stored.lfs_oid:
                headers.update({"X-Linked-Etag": f'"{stored.lfs_oid}"', "X-Linked-Size": str(stored.size)})
            hub.downloads.append((method, unquote(match["file"])))
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            if method == "GET":
                self.wfile.write(data)

        def _preupload(self, repo: Repo, rev: str, payload: dict) -> None:
            if (branch := self._branch(repo, rev)) is None:
                return
            stored = repo.branches[branch]
            answer = []
            for f in payload["files"]:
                lfs = f["path"].endswith(LFS_SUFFIXES) or f["size"] >= LFS_MIN_SIZE
                current = stored.get(f["path"])
                answer.append({
                    "path": f["path"],
                    "uploadMode": "lfs" if lfs else "regular",
                    "shouldIgnore": False,
                    "oid": current.oid if current else None,
                })
            self._send(200, {"files": answer, "commitOid": repo.heads[branch]})

        def _lfs_batch(self, payload: dict) -> None:
            objects = []
            for obj in payload["objects"]:
                entry = {"oid": obj["oid"], "size": obj["size"]}
                if obj["oid"] not in hub.lfs_objects:
                    entry["actions"] = {
                        "upload": {"href": f"{hub.url}/lfs/{obj['oid']}"},
                        "verify": {"href": f"{hub.url}/lfs/verify"},
                    }
                objects.append(entry)
            self._send(200, {"transfer": "basic", "objects": objects})

        def _lfs_put(self, oid: str, body: bytes) -> None:
            if hub.fail_lfs_puts_after is not None and len(hub.lfs_puts) >= hub.fail_lfs_puts_after:
                return self._error(403, "simulated interruption: upload refused")
            if hashlib.sha256(body).hexdigest() != oid:
                return self._error(400, f"content does not match oid {oid}")
            hub.lfs_objects[oid] = body
            hub.lfs_puts.append(oid)
            self._send(200, {})

        def _commit(self, repo: Repo, rev: str, body: bytes) -> None:
            if (branch := self._branch(repo, rev)) is None:
                return
            if hub.fail_commits > 0:
                hub.fail_commits -= 1
                return self._error(500, "simulated interruption: commit failed")
            lines = [json.loads(line) for line in body.splitlines() if line.strip()]
            status, payload = hub.apply_commit(repo, branch, lines)
            if status != 200:
                return self._error(status, payload["error"])
            self._send(200, payload)

    return Handler
