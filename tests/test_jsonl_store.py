"""The one JSONL primitive: torn tails, appenders in several processes, atomic rewrites, the lock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from stepinst_data.atomic import atomic_write
from stepinst_data.stores.jsonl import StoreBusyError, append_lines, repair_tail, store_lock, write_lines

REPO = Path(__file__).resolve().parent.parent


def _python(code: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=env, text=True, **kwargs)


def test_a_torn_last_line_is_moved_aside_and_never_deleted(tmp_path):
    path = tmp_path / "s.jsonl"
    append_lines(path, ['{"n": 1}'])
    with open(path, "ab") as f:
        f.write(b'{"n": 2, "te')  # a crash mid-write
    append_lines(path, ['{"n": 3}'])
    assert path.read_text() == '{"n": 1}\n{"n": 3}\n'
    assert (tmp_path / "s.jsonl.torn").read_text() == '{"n": 2, "te\n'
    with open(path, "ab") as f:
        f.write('{"n": 4, "é": "'.encode()[:-2])  # a second crash, this time inside a UTF-8 character
    repair_tail(path)
    assert path.read_text() == '{"n": 1}\n{"n": 3}\n'
    torn = (tmp_path / "s.jsonl.torn").read_bytes().split(b"\n")
    assert torn[0] == b'{"n": 2, "te' and torn[1].startswith(b'{"n": 4') and len(torn) == 3  # both kept


def test_a_whole_record_lacking_only_its_newline_is_kept_without_a_blank_line(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text('{"n": 1}\n{"n": 2}')  # the crash hit between the record and its newline
    append_lines(path, ['{"n": 3}'])
    assert path.read_text() == '{"n": 1}\n{"n": 2}\n{"n": 3}\n'
    assert not (tmp_path / "s.jsonl.torn").exists()


def test_the_ratings_store_gets_no_blank_line_after_a_repair(tmp_path):
    from stepinst_data.stores.ratings import append_ratings, read_ratings_store

    scores = {"correctness": 4, "completeness": 4, "order": 5, "overall": 4}
    store = tmp_path / "ratings.jsonl"
    append_ratings(store, [{"task_name": "task1_a", "annotator": "ann", **scores}])
    store.write_bytes(store.read_bytes()[:-1])  # the last record lost only its newline
    append_ratings(store, [{"task_name": "task2_b", "annotator": "ann", **scores}])
    lines = store.read_text().split("\n")
    assert len(lines) == 4 and lines[-1] == "" and all(lines[:3])  # header, 2 records, no blank line
    assert [r["task_name"] for r in read_ratings_store(store).records] == ["task1_a", "task2_b"]


def test_a_newline_inside_a_line_is_refused_before_anything_is_written(tmp_path):
    path = tmp_path / "s.jsonl"
    with pytest.raises(ValueError, match="cannot hold a newline"):
        append_lines(path, ['{"n": 1}', '{"n":\n 2}'])
    assert not path.exists()


def test_appenders_in_several_processes_write_whole_lines_only(tmp_path):
    path = tmp_path / "s.jsonl"
    writers, lines_each = 4, 60
    code = f"""
        import json, sys
        from stepinst_data.stores.jsonl import APPEND_WAIT_S, append_lines, store_lock
        who = int(sys.argv[1])
        for i in range({lines_each}):
            with store_lock({str(path)!r}, wait=60 * APPEND_WAIT_S):
                append_lines({str(path)!r}, [json.dumps({{"who": who, "i": i, "pad": "x" * (i * 97)}})])
    """
    procs = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), str(w)],
                              env={**os.environ, "PYTHONPATH": str(REPO)}) for w in range(writers)]
    assert [p.wait() for p in procs] == [0] * writers
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert sorted((r["who"], r["i"]) for r in records) == [(w, i) for w in range(writers) for i in range(lines_each)]
    for w in range(writers):  # each writer's lines stay in its own order
        assert [r["i"] for r in records if r["who"] == w] == list(range(lines_each))


def test_an_atomic_write_killed_mid_write_leaves_the_old_file(tmp_path):
    path = tmp_path / "ratings.jsonl"
    write_lines(path, ['{"old": 1}', '{"old": 2}'])
    before = path.read_bytes()
    proc = _python(f"""
        import os, signal
        from stepinst_data.stores.jsonl import write_lines
        def lines():
            yield '{{"new": 1}}'
            yield 'x' * 100000
            os.kill(os.getpid(), signal.SIGKILL)  # the crash, in the middle of the rewrite
            yield '{{"new": 2}}'
        write_lines({str(path)!r}, lines())
    """)
    assert proc.wait() == -9
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name != "ratings.jsonl"][0].endswith(".tmp")  # the leftover, hidden


def test_an_atomic_write_that_fails_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "state.json"
    path.write_text('{"batch_id": "b1"}\n')
    with pytest.raises(RuntimeError):
        with atomic_write(path) as f:
            f.write('{"batch_id": ')
            raise RuntimeError("disk full")
    assert path.read_text() == '{"batch_id": "b1"}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]
    with atomic_write(path) as f:
        f.write('{"batch_id": "b2"}\n')
    assert path.read_text() == '{"batch_id": "b2"}\n' and [p.name for p in tmp_path.iterdir()] == ["state.json"]
    assert path.stat().st_mode & 0o777 == 0o666 & ~_umask()  # a shared file, not mkstemp's 0600


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_busy_store_names_the_store_and_the_process_that_holds_it(tmp_path):
    path = tmp_path / "steps.jsonl"
    holder = _python(f"""
        import sys
        from stepinst_data.stores.jsonl import store_lock
        with store_lock({str(path)!r}):
            print("locked", flush=True)
            sys.stdin.read()  # hold the lock until the test closes stdin
    """, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline() == "locked\n"
        with pytest.raises(StoreBusyError) as busy:
            store_lock(path).acquire()
        message = str(busy.value)
        assert message.startswith(f"{path} is locked by another running process (pid {holder.pid} on ")
        assert f"lock file {path}.lock" in message and "Wait for it to finish" in message
    finally:
        holder.stdin.close()
        assert holder.wait() == 0
    with store_lock(path):  # released: the next writer gets it
        assert (tmp_path / "steps.jsonl.lock").read_text().startswith(f"pid {os.getpid()} on ")
