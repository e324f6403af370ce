"""The ratings store survives a crash mid-write."""

from __future__ import annotations


def test_torn_last_line_is_ignored_and_moved_aside_on_the_next_append(tmp_path):
    from stepinst_data.ratings_store import append_ratings, read_ratings_store

    store = tmp_path / "ratings.jsonl"
    scores = {"correctness": 4, "completeness": 4, "order": 5, "overall": 4}
    append_ratings(store, [{"task_name": "task1_a", "annotator": "ann", **scores}])
    with open(store, "a", encoding="utf-8") as f:
        f.write('{"task_name": "task2_b", "annot')  # a crash mid-write
    assert [r["task_name"] for r in read_ratings_store(store).records] == ["task1_a"]
    append_ratings(store, [{"task_name": "task3_c", "annotator": "ann", **scores}])
    assert [r["task_name"] for r in read_ratings_store(store).records] == ["task1_a", "task3_c"]
    assert (tmp_path / "ratings.jsonl.torn").read_text() == '{"task_name": "task2_b", "annot\n'
