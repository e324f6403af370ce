"""Task files decode with msgspec, and to exactly what ``json.loads`` gives, whatever the file holds."""

from __future__ import annotations

import json

import msgspec
import pytest

from stepinst_data.sample import SAMPLE_NATINST
from stepinst_data.source.natinst import NatInstError, Sampling, decode_task_file, parse_task_file, read_task

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


def _general(path, name, split, sampling):
    """The general reader alone (what every file went through before the typed fast path)."""
    return parse_task_file(path.read_bytes(), path, name, split, sampling)


def _instances(n, **first):
    rows = [{"id": f"t-{i}", "input": f"in {i}", "output": [f"out {i}"]} for i in range(n)]
    rows[-1].update(first)  # the last one: never sampled by the test split's first-N rule below
    return rows


HOSTILE = {
    "old schema": minimal_task(Definition="plain string", Categories="Misc.", Instances=[{"input": "a", "output": "b"}]),
    "no id in one instance": minimal_task(Instances=[{"id": "a", "input": "x", "output": ["y"]}, {"input": "x", "output": ["y"]}]),
    "empty id": minimal_task(Instances=[{"id": "", "input": "x", "output": ["y"]}]),
    "integer id": minimal_task(Instances=[{"id": 7, "input": "x", "output": ["y"]}]),
    "duplicate ids": minimal_task(Instances=[{"id": "a", "input": "x", "output": ["y"]}, {"id": "a", "input": "z", "output": ["y"]}]),
    "number input, not sampled": minimal_task(Instances=_instances(4, input=12.5)),
    "null input, not sampled": minimal_task(Instances=_instances(4, input=None)),
    "blank references, not sampled": minimal_task(Instances=_instances(4, output=["", "  "])),
    "blank first reference": minimal_task(Instances=[{"id": "a", "input": "x", "output": ["", "y"]}]),
    "string output": minimal_task(Instances=[{"id": "a", "input": "x", "output": "y"}]),
    "number in a reference list": minimal_task(Instances=[{"id": "a", "input": "x", "output": ["y", 3]}]),
    "list example output": minimal_task(**{"Positive Examples": [{"input": "a", "output": ["b", "c"]}]}),
    "null explanation": minimal_task(**{"Positive Examples": [{"input": "a", "output": "b", "explanation": None}]}),
    "list explanation": minimal_task(**{"Positive Examples": [{"input": "a", "output": "b", "explanation": ["e"]}]}),
    "no positive examples key": {k: v for k, v in minimal_task().items() if k != "Positive Examples"},
    "null positive examples": minimal_task(**{"Positive Examples": None}),
    "null negative examples": minimal_task(**{"Negative Examples": None}),
    "numbers in Source": minimal_task(Source=[1, "x"]),
    "empty definition": minimal_task(Definition=["  "]),
    "empty categories": minimal_task(Categories=[]),
    "empty Instances": minimal_task(Instances=[]),
    "not an object": [1, 2],
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
@pytest.mark.parametrize("split", ["train", "test"])
def test_the_typed_fast_path_reads_every_file_as_the_general_reader(tmp_path, case, split):
    """Same Task, or the same error, for files of every shape (the fast path hands the odd ones on)."""
    path = write_task(tmp_path, "task9_case", HOSTILE[case])
    sampling = Sampling(max_num_instances_per_task=2, max_num_instances_per_eval_task=2)
    try:
        expected = _general(path, "task9_case", split, sampling)
    except NatInstError as e:
        with pytest.raises(NatInstError) as info:
            read_task(tmp_path, "task9_case", split, sampling)
        assert str(info.value) == str(e)
    else:
        assert read_task(tmp_path, "task9_case", split, sampling) == expected


@pytest.mark.parametrize("where", ["Definition", "Contributors", "an unsampled input"])
def test_invalid_utf8_is_refused_naming_the_file_wherever_it_is(tmp_path, where):
    """msgspec skips unread keys and unsampled inputs without checking their UTF-8: stepinst checks it."""
    data = minimal_task(n_instances=4, Contributors=["PLACEHOLDER"]) if where == "Contributors" else minimal_task(n_instances=4)
    text = json.dumps(data)
    target = {"Definition": "Copy the input", "Contributors": "PLACEHOLDER", "an unsampled input": "in 3"}[where]
    raw = text.encode().replace(target.encode(), target.encode() + b" caf\xe9", 1)
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "task9_latin1.json").write_bytes(raw)
    sampling = Sampling(max_num_instances_per_eval_task=2)
    with pytest.raises(NatInstError, match=r"task9_latin1\.json: not valid JSON \('utf-8' codec can't decode byte 0xe9"):
        read_task(tmp_path, "task9_latin1", "test", sampling)
