"""Task files decode with msgspec, and to exactly what ``json.loads`` gives, whatever the file holds."""

from __future__ import annotations

import json

import msgspec
import pytest

from stepinst_data.sample import SAMPLE_NATINST
from stepinst_data.source.natinst import NatInstError, Sampling, decode_task_file, read_task

from natinst_helpers import minimal_task, write_task


def _same(raw: bytes) -> bool:
    """Equal values and types (1 vs 1.0), NaN included: compare the standard library's dumps."""
    return json.dumps(decode_task_file(raw)) == json.dumps(json.loads(raw))


@pytest.mark.parametrize(
    "raw",
    [
        b'{"URL": [NaN], "a": Infinity, "b": -Infinity}',  # task162's bare NaN: json accepts, msgspec refuses
        b'\xef\xbb\xbf{"Definition": ["with a byte order mark"]}',
        b'{"Definition": ["lone surrogate \\ud800"]}',
        b'{"n": 123456789012345678901234567890, "m": -9223372036854775809, "f": 1e400}',
        '{"Definition": ["utf-16"]}'.encode("utf-16"),
        b'{"a": 1, "a": 2, "x": [0.1, -0.0, 1.0, 1E5, 2.2250738585072011e-308]}',
        '{"Definition": ["caf\u00e9 \\u00e9 \\ud83d\\ude00 \u6f22"]}'.encode(),
    ],
)
def test_every_value_decodes_as_the_standard_library_does(raw):
    assert _same(raw)


def test_what_msgspec_refuses_falls_back_to_the_standard_library():
    with pytest.raises(msgspec.DecodeError):
        msgspec.json.decode(b'{"URL": [NaN]}')
    assert json.dumps(decode_task_file(b'{"URL": [NaN]}')) == '{"URL": [NaN]}'


@pytest.mark.parametrize("text", ['{"Definition": ["x"],', '{"a": "tab\there"}', "[1,]", '{"a": 1} trailing'])
def test_broken_files_give_the_standard_library_error(sample_copy, text):
    write_task(sample_copy, "task9999_broken", text)
    try:
        json.loads(text)
    except json.JSONDecodeError as e:
        expected = f"not valid JSON ({e}); re-download the task file."
    with pytest.raises(NatInstError) as info:
        read_task(sample_copy, "task9999_broken", "train", Sampling())
    assert str(info.value) == f"{sample_copy / 'tasks' / 'task9999_broken.json'}: {expected}"


def test_a_nan_url_reads_as_before(tmp_path):
    data = json.dumps(minimal_task(URL=["x"])).replace('["x"]', "[NaN]")
    write_task(tmp_path, "task162_nan_url", data)
    task = read_task(tmp_path, "task162_nan_url", "train", Sampling())
    assert task.url == [] and [i.id for i in task.instances] == ["t-0", "t-1", "t-2"]


def test_every_sample_file_decodes_as_the_standard_library_does():
    files = sorted((SAMPLE_NATINST / "tasks").glob("*.json"))
    assert files
    assert all(_same(p.read_bytes()) for p in files)


def test_every_real_file_decodes_as_the_standard_library_does(shared_natinst):
    files = sorted((shared_natinst / "tasks").glob("*.json"))
    assert len(files) == 125
    assert all(_same(p.read_bytes()) for p in files)
    nan_file = (shared_natinst / "tasks" / "task162_count_words_starting_with_letter.json").read_bytes()
    with pytest.raises(msgspec.DecodeError):  # the real file with a bare NaN takes the fallback
        msgspec.json.decode(nan_file)
