"""A local OpenAI-compatible HTTP server for tests, benchmarks and notebooks (127.0.0.1 only).

The real ``openai`` client talks to it; nothing leaves the machine. Usage::

    from fake_openai import FakeOpenAI

    with FakeOpenAI(latency=0.05, rpm=600) as server:
        client = OpenAI(api_key="test-key", base_url=server.base_url)
        server.inject("429", times=2, retry_after=0.2)        # the next 2 chat requests get 429
        server.inject("refusal", match="Count the vowels")   # one request whose prompt has this text
        ...
        server.requests        # every request: RequestLog(method, path, status, body, definition, time)
        server.chat_requests() # the chat completions answered or refused (not rate-limited ones)

Endpoints: POST /v1/chat/completions (with ``usage`` counted by tiktoken), POST /v1/files
(multipart), GET /v1/files/{id}/content, POST /v1/batches, GET /v1/batches/{id}.
Answers are deterministic numbered steps built from the words of the task definition (the text
after ``Task definition:`` in the last user message); a judge prompt (a system message asking for
JSON with ``- criterion: ...`` lines) gets a JSON object of integer scores.

Faults (``inject(kind, times=1, match=None, **options)``), consumed in the order injected:
``"429"`` (``retry_after`` seconds header), ``"500"``, ``"slow"`` (sleeps ``delay`` seconds before
answering, to pass the client's timeout), ``"disconnect"`` (closes the connection unanswered),
``"refusal"``, ``"paragraph"``, ``"single_step"``, ``"repeat"`` (the steps restate the
definition), ``"batch_error"`` (a batch item fails with status 500).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import default as email_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ANSWER_FAULTS = {"refusal", "paragraph", "single_step", "repeat"}
CHAT_FAULTS = ANSWER_FAULTS | {"429", "500", "slow", "disconnect"}


@dataclass
class Fault:
    kind: str
    times: int = 1
    match: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class RequestLog:
    method: str
    path: str
    status: int = 0
    body: Any = None
    definition: str | None = None  # of a chat request
    time: float = 0.0
    fault: str | None = None
    authorization: str | None = None


def extract_definition(messages: list[dict[str, Any]]) -> str:
    """The task definition in a steps prompt (the first user message), else that message."""
    users = [m.get("content") or "" for m in messages if m.get("role") == "user"]
    text = users[0] if users else ""
    m = re.search(r"Task definition:\n(.*?)(?:\n\n|$)", text, re.S)
    return (m.group(1) if m else text).strip()


def steps_answer(definition: str) -> str:
    """Deterministic, parseable steps made from the definition's words."""
    words = [w for w in re.findall(r"[A-Za-z]+", definition) if len(w) > 3] or ["input", "answer"]
    digest = int(hashlib.sha256(definition.encode()).hexdigest(), 16)
    pick = [words[(digest >> (4 * i)) % len(words)].lower() for i in range(8)]
    steps = [
        f"Read the input and find what the task calls '{pick[0]} {pick[1]}'.",
        f"Identify every part of the input that matters for '{pick[2]}'.",
        f"Apply the rule about '{pick[3]} {pick[4]}' to those parts.",
        f"Check the result against '{pick[5]}' and fix any mistake.",
        f"Write the final answer for '{pick[6]}' in the expected format.",
    ]
    count = 3 + digest % 3
    return "\n".join(f"{i}. {s}" for i, s in enumerate(steps[:count], start=1))


def judge_answer(messages: list[dict[str, Any]]) -> str | None:
    system = next((m.get("content") or "" for m in messages if m.get("role") == "system"), "")
    criteria = re.findall(r"^- (\w+):", system, re.M)
    if "JSON" not in system or not criteria:
        return None
    digest = int(hashlib.sha256(json.dumps(messages).encode()).hexdigest(), 16)
    scores = {c: 3 + (digest >> (2 * i)) % 3 for i, c in enumerate(criteria)}
    return json.dumps({**scores, "comment": "Deterministic judgement from the fake server."})


class FakeOpenAI:
    """The server; a context manager that starts it on a free port in a background thread.

    Args:
        latency: seconds every chat request takes (simulated model time).
        rpm: requests per minute the server accepts; beyond it, 429 with Retry-After.
        api_key: when set, requests must carry ``Authorization: Bearer <api_key>`` (else 401).
        batch_polls: GETs of a batch before it completes (validating -> in_progress -> completed).
    """

    def __init__(self, latency: float = 0.0, rpm: float | None = None, api_key: str | None = None,
                 batch_polls: int = 2):
        self.latency, self.rpm, self.api_key, self.batch_polls = latency, rpm, api_key, batch_polls
        self.requests: list[RequestLog] = []
        self.faults: list[Fault] = []
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._bucket = (max(1.0, (rpm or 0) / 60.0), time.monotonic())  # (level, stamp)
        self._ids = 0
        self._encoding = None
        self._httpd: ThreadingHTTPServer | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> FakeOpenAI:
        handler = type("Handler", (_Handler,), {"server_state": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    # -- knobs and logs ----------------------------------------------------------------------
    def inject(self, kind: str, times: int = 1, match: str | None = None, **options: Any) -> None:
        with self._lock:
            self.faults.append(Fault(kind, times, match, options))

    def chat_requests(self) -> list[RequestLog]:
        return [r for r in self.requests if r.path.endswith("/chat/completions") and r.status not in (429, 499)]

    def _take_fault(self, text: str, kinds: set[str] | None = None) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.times > 0 and (fault.match is None or fault.match in text) and (kinds is None or fault.kind in kinds):
                    fault.times -= 1
                    return fault
        return None

    def _rate_limited(self) -> float | None:
        """Seconds to wait when over ``rpm`` (a token bucket holding one second of requests)."""
        if not self.rpm:
            return None
        with self._lock:
            rate = self.rpm / 60.0
            level, stamp = self._bucket
            now = time.monotonic()
            level = min(max(1.0, rate), level + (now - stamp) * rate)
            if level >= 1.0:
                self._bucket = (level - 1.0, now)
                return None
            self._bucket = (level, now)
            return (1.0 - level) / rate

    def _next_id(self, prefix: str) -> str:
        with self._lock:
            self._ids += 1
            return f"{prefix}-{self._ids}"

    # -- answers -------------------------------------------------------------------------------
    def count_tokens(self, messages: list[dict[str, Any]], completion: str) -> dict[str, int]:
        """Usage as OpenAI reports it: 3 tokens per message + its fields, 3 to prime the reply."""
        if self._encoding is None:
            import tiktoken

            from stepinst_data.generation.tokens import ensure_tiktoken_cache

            ensure_tiktoken_cache()
            self._encoding = tiktoken.get_encoding("o200k_base")
        enc = self._encoding
        prompt = 3 + sum(3 + sum(len(enc.encode(str(v), disallowed_special=())) for v in m.values()) for m in messages)
        completion_tokens = len(enc.encode(completion, disallowed_special=()))
        return {"prompt_tokens": prompt, "completion_tokens": completion_tokens, "total_tokens": prompt + completion_tokens}

    def completion(self, body: dict[str, Any], fault: Fault | None) -> dict[str, Any]:
        messages = body.get("messages") or []
        definition = extract_definition(messages)
        text = judge_answer(messages) or steps_answer(definition)
        kind = fault.kind if fault else None
        if kind == "refusal":
            text = "I'm sorry, but I can't help with that request."
        elif kind == "paragraph":
            text = "To solve this task you should read the input carefully and then answer it well."
        elif kind == "single_step":
            text = "1. Solve the task."
        elif kind == "repeat":
            half = len(definition) // 2
            text = f"1. {definition[:half]}\n2. {definition[half:]}"
        return {
            "id": self._next_id("chatcmpl"), "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": self.count_tokens(messages, text),
        }

    def run_batch(self, batch: dict[str, Any]) -> None:
        """Answer every line of the batch's input file into output and error files."""
        outputs, errors = [], []
        for line in self.files[batch["input_file_id"]].decode().splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            text = json.dumps(item["body"])
            fault = self._take_fault(text, ANSWER_FAULTS | {"batch_error"})
            if fault and fault.kind == "batch_error":
                errors.append({"id": self._next_id("batch_req"), "custom_id": item["custom_id"], "error": None,
                               "response": {"status_code": 500, "body": {"error": {"message": "injected batch error"}}}})
                continue
            body = self.completion(item["body"], fault)
            outputs.append({"id": self._next_id("batch_req"), "custom_id": item["custom_id"], "error": None,
                            "response": {"status_code": 200, "request_id": body["id"], "body": body}})
        for key, rows in (("output_file_id", outputs), ("error_file_id", errors)):
            if rows:
                file_id = self._next_id("file")
                self.files[file_id] = ("\n".join(json.dumps(r) for r in rows) + "\n").encode()
                batch[key] = file_id
        batch["request_counts"] = {"total": len(outputs) + len(errors), "completed": len(outputs), "failed": len(errors)}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_state: FakeOpenAI

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None, raw: bytes | None = None) -> None:
        data = raw if raw is not None else json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream" if raw is not None else "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout) or was killed

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        self._send(status, {"error": {"message": message, "type": "fake_error", "code": str(status)}}, headers)

    def _log(self, status: int, body: Any = None, definition: str | None = None, fault: str | None = None) -> None:
        state = self.server_state
        with state._lock:
            state.requests.append(RequestLog(self.command, self.path, status, body, definition, time.time(), fault,
                                             self.headers.get("Authorization")))

    def _authorized(self) -> bool:
        key = self.server_state.api_key
        if key and self.headers.get("Authorization") != f"Bearer {key}":
            self._log(401)
            self._error(401, "Incorrect API key provided")
            return False
        return True

    def _read(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_POST(self) -> None:
        data = self._read()
        if len(data) < int(self.headers.get("Content-Length") or 0):
            self._log(499)  # the client died mid-upload: nothing to answer
            self.close_connection = True
            return
        if not self._authorized():
            return
        if self.path.endswith("/chat/completions"):
            self._chat(json.loads(data or b"{}"))
        elif self.path.endswith("/files"):
            self._upload(data)
        elif self.path.endswith("/batches"):
            self._create_batch(json.loads(data or b"{}"))
        else:
            self._error(404, f"no route {self.path}")

    def do_GET(self) -> None:
        if not self._authorized():
            return
        state = self.server_state
        m = re.search(r"/files/([\w-]+)/content$", self.path)
        if m and m.group(1) in state.files:
            self._log(200)
            return self._send(200, None, raw=state.files[m.group(1)])
        m = re.search(r"/batches/([\w-]+)$", self.path)
        if m and m.group(1) in state.batches:
            batch = state.batches[m.group(1)]
            with state._lock:
                batch["_polls"] += 1
                run = batch["status"] == "in_progress" and batch["_polls"] >= state.batch_polls
                if batch["status"] == "validating":
                    batch["status"] = "in_progress"
            if run:
                state.run_batch(batch)
                batch["status"], batch["completed_at"] = "completed", int(time.time())
            self._log(200)
            return self._send(200, {k: v for k, v in batch.items() if not k.startswith("_")})
        self._log(404)
        self._error(404, f"no such resource {self.path}")

    def _chat(self, body: dict[str, Any]) -> None:
        state = self.server_state
        messages = body.get("messages") or []
        definition = extract_definition(messages)
        wait = state._rate_limited()
        if wait is not None:
            self._log(429, body, definition, "rpm")
            return self._error(429, "Rate limit reached (requests per minute)", {"Retry-After": f"{wait:.3f}"})
        fault = state._take_fault(json.dumps(messages), CHAT_FAULTS)
        kind = fault.kind if fault else None
        self._log({"429": 429, "500": 500}.get(kind, 200), body, definition, kind)
        if kind == "429":
            return self._error(429, "Rate limit reached", {"Retry-After": str(fault.options.get("retry_after", 1))})
        if kind == "500":
            return self._error(500, "The server had an error while processing your request")
        if kind == "disconnect":
            self.close_connection = True
            self.connection.close()
            return
        time.sleep(state.latency + (fault.options.get("delay", 5.0) if kind == "slow" else 0.0))
        self._send(200, state.completion(body, fault if kind in ANSWER_FAULTS else None))

    def _upload(self, data: bytes) -> None:
        message = BytesParser(policy=email_policy).parsebytes(
            b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\n\r\n" + data
        )
        content, filename, purpose = b"", "upload", ""
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if name == "file":
                content, filename = part.get_payload(decode=True), part.get_filename() or filename
            elif name == "purpose":
                purpose = part.get_content().strip()
        state = self.server_state
        file_id = state._next_id("file")
        state.files[file_id] = content
        self._log(200, {"purpose": purpose, "filename": filename, "bytes": len(content)})
        self._send(200, {"id": file_id, "object": "file", "bytes": len(content), "created_at": int(time.time()),
                         "filename": filename, "purpose": purpose, "status": "processed"})

    def _create_batch(self, body: dict[str, Any]) -> None:
        state = self.server_state
        if body.get("input_file_id") not in state.files:
            self._log(400, body)
            return self._error(400, f"no file {body.get('input_file_id')}")
        batch = {
            "id": state._next_id("batch"), "object": "batch", "endpoint": body.get("endpoint"),
            "input_file_id": body["input_file_id"], "completion_window": body.get("completion_window", "24h"),
            "status": "validating", "created_at": int(time.time()), "output_file_id": None,
            "error_file_id": None, "request_counts": {"total": 0, "completed": 0, "failed": 0}, "_polls": 0,
        }
        state.batches[batch["id"]] = batch
        self._log(200, body)
        self._send(200, {k: v for k, v in batch.items() if not k.startswith("_")})
