"""The rating page: a small local Flask app that shows one task at a time to one annotator.

Every submission is validated on the server (the task must be rateable and not yet rated by this
annotator, the page token must be the one the server issued for that task, every score an integer
on the rubric's scale) and appended to the store atomically before the page moves on. Where to
resume is read from the store on every request, so a reload or a restart continues at the next
unrated task. One ``rate serve`` per store: a second one is refused (a lock beside the store).

The page answers only to itself: a request whose ``Host`` is not the address the server is bound
to is refused (a DNS-rebinding page on ``evil.example`` resolving to 127.0.0.1 would otherwise
read the page and its token), and so is a POST whose ``Origin`` is another site.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import socket
import threading
from collections.abc import Collection
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from ..source.natinst import Sampling, Task, read_task
from ..stores.ratings import RatingsError, Rubric, append_ratings, read_ratings_store, store_rubric, is_llm
from ..stores.steps import StepsRecord

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
WILDCARD_HOSTS = ("0.0.0.0", "::", "")
MAX_COMMENT_CHARS = 2000
_INTEGER = re.compile(r"^[0-9]{1,3}$")


@dataclass
class RatingSession:
    """What one annotator rates: the rateable tasks (name -> split), their steps, the store and rubric."""

    natinst_root: Path
    tasks: dict[str, str]
    steps: dict[str, StepsRecord]
    store: Path
    annotator: str
    rubric: Rubric
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    def __post_init__(self) -> None:
        if not self.annotator.strip() or self.annotator != self.annotator.strip():
            raise RatingsError(f"--annotator {self.annotator!r}: give a non-empty name without surrounding spaces")
        if is_llm(self.annotator):
            raise RatingsError(f"--annotator {self.annotator!r}: names starting with 'llm:' are reserved for LLM judges")
        self.rubric = store_rubric(self.store, self.rubric)
        self.tasks = {name: split for name, split in self.tasks.items() if name in self.steps}
        if not self.tasks:
            raise RatingsError(f"{self.store}: no task has steps to rate; check --natinst and --steps")

    def rated(self) -> set[str]:
        if not self.store.is_file() or not self.store.stat().st_size:
            return set()
        return read_ratings_store(self.store).rated_by(self.annotator) & set(self.tasks)

    def token(self, task_name: str) -> str:
        """A per-page token: a POST must come from a page this server rendered for that task."""
        message = f"{self.annotator}\0{task_name}".encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()


class Rejected(Exception):
    """A submission that is refused; nothing is written. Carries the HTTP status."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def parse_submission(session: RatingSession, form: dict[str, str]) -> dict[str, Any]:
    """The record a POSTed form stands for, or :class:`Rejected` saying what is wrong."""
    task = form.get("task_name", "")
    if task not in session.tasks:
        raise Rejected(400, f"unknown task {task[:200]!r}: only tasks with steps can be rated")
    if not hmac.compare_digest(form.get("token", ""), session.token(task)):
        raise Rejected(400, "this page's token is invalid or expired (the server restarted?); reload the page")
    record: dict[str, Any] = {"task_name": task, "annotator": session.annotator}
    lo, hi = session.rubric.min_score, session.rubric.max_score
    for name in session.rubric.criterion_names:
        value = form.get(name, "").strip()
        if not _INTEGER.match(value) or not lo <= int(value) <= hi:
            raise Rejected(400, f"{name}: score {value[:20]!r} is not an integer from {lo} to {hi}")
        record[name] = int(value)
    comment = form.get("comment", "").strip()
    if len(comment) > MAX_COMMENT_CHARS:
        raise Rejected(400, f"the comment is longer than {MAX_COMMENT_CHARS} characters")
    record["comment"] = comment
    return record


def host_names(host: str) -> set[str]:
    """The names a browser may put in ``Host`` for a server bound to ``host``.

    Loopback: 127.0.0.1, localhost, ::1. A wildcard bind (``--host 0.0.0.0``) adds this machine's
    name and addresses, so colleagues on the network reach it while foreign names stay refused.
    """
    if host in LOOPBACK_NAMES:
        return set(LOOPBACK_NAMES)
    if host not in WILDCARD_HOSTS:
        return {host}
    names = set(LOOPBACK_NAMES) | {socket.gethostname(), socket.getfqdn()}
    try:
        names.update(socket.gethostbyname_ex(socket.gethostname())[2])
    except OSError:
        pass
    return names


def _split_host(value: str) -> tuple[str, int | None]:
    """``name[:port]`` or ``[v6]:port`` -> (lower-case name, port or None)."""
    if value.startswith("["):
        name, _, rest = value[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif value.count(":") == 1:
        name, _, port = value.partition(":")
    else:  # no port, or a bare IPv6 address
        name, port = value, ""
    return name.lower(), int(port) if port.isdigit() else None


def check_request_target(host_header: str, origin: str | None, method: str,
                         names: Collection[str], port: int | None) -> None:
    """Raise :class:`Rejected` unless the request is addressed to this server by its own page.

    ``port`` None accepts any port (before binding; the Flask test client sends ``Host: localhost``).
    A POST without ``Origin`` (curl, old browsers) passes here; its page token still has to match.
    """
    name, request_port = _split_host(host_header or "")
    if name not in names or (port is not None and request_port != port):
        raise Rejected(400, f"refused: Host {host_header[:100]!r} is not this rating page's address; "
                            "open the URL `stepinst rate serve` printed")
    if method == "POST" and origin is not None:
        scheme, _, origin_host = origin.partition("://")
        if scheme not in ("http", "https") or _split_host(origin_host) != (name, request_port):
            raise Rejected(403, f"refused: a POST from another site (Origin {origin[:100]!r}); "
                                "submit ratings from the rating page itself")


def create_app(session: RatingSession, host: str = DEFAULT_HOST, port: int | None = None):
    """The Flask app of one rating session, answering to ``host`` (and ``port``, once bound)."""
    from flask import Flask, redirect, render_template, request

    app = Flask(__name__)
    app.config["STEPINST_HOST_NAMES"] = host_names(host)
    app.config["STEPINST_PORT"] = port
    write_lock = threading.Lock()

    @app.before_request
    def refuse_foreign_requests():
        try:
            check_request_target(request.host, request.headers.get("Origin"), request.method,
                                 app.config["STEPINST_HOST_NAMES"], app.config["STEPINST_PORT"])
        except Rejected as e:
            logger.warning("%s %s: %s", request.method, request.path, e)
            return f"{e}\n", e.status, {"Content-Type": "text/plain; charset=utf-8"}
        return None

    @lru_cache(maxsize=64)
    def load_task(name: str) -> Task:
        # Instances are not shown: read none (Sampling(0, 0)).
        return read_task(session.natinst_root, name, session.tasks[name] or "train", Sampling(0, 0))

    @app.get("/")
    def index():
        rated = session.rated()
        name = next((n for n in session.tasks if n not in rated), None)
        progress = {"rated": len(rated), "total": len(session.tasks)}
        if name is None:
            return render_template("done.html", session=session, progress=progress)
        return render_template(
            "rate.html", session=session, task=load_task(name), steps=session.steps[name].steps,
            token=session.token(name), progress=progress, scale=range(session.rubric.min_score, session.rubric.max_score + 1),
        )

    @app.post("/rate")
    def rate():
        try:
            record = parse_submission(session, request.form.to_dict())
            with write_lock:
                if record["task_name"] in session.rated():
                    raise Rejected(409, f"{record['task_name']} is already rated by {session.annotator}")
                append_ratings(session.store, [record], session.rubric)
        except (Rejected, RatingsError) as e:
            status = getattr(e, "status", 409)
            logger.warning("rejected a submission: %s", e)
            return render_template("error.html", message=str(e)), status
        logger.info("%s rated %s", session.annotator, record["task_name"])
        return redirect("/", code=303)

    return app


def serve_lock(store: Path) -> FileLock:
    """Held while a page serves ``store``: a second ``rate serve`` on it is refused."""
    lock = FileLock(str(store) + ".serve.lock", timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise RatingsError(
            f"{store} is already being served by another `stepinst rate serve` (lock {store}.serve.lock); "
            "stop that one first, or give each annotator their own store and merge with `stepinst rate import`"
        ) from None
    return lock


class RatingServer:
    """The page on a local port, in a background thread; ``port=0`` picks a free one."""

    def __init__(self, session: RatingSession, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT):
        from werkzeug.serving import make_server

        session.store.parent.mkdir(parents=True, exist_ok=True)
        self.lock = serve_lock(session.store)
        try:
            app = create_app(session, host)
            self.server = make_server(host, port, app, threaded=True)
        except OSError:
            self.lock.release()
            raise
        app.config["STEPINST_PORT"] = self.server.server_port  # known once bound (port=0 picks one)
        self.thread = threading.Thread(target=self.server.serve_forever, name="stepinst-rate", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/"

    def start(self) -> RatingServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
        self.lock.release()

    def __enter__(self) -> RatingServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def warn_if_public(host: str) -> None:
    if host not in ("127.0.0.1", "localhost", "::1"):
        logger.warning("binding to %s: anyone who can reach this address can submit ratings as this annotator", host)



