"""The ratings store survives a crash mid-write."""

from __future__ import annotations


def test_torn_last_line_is_ignored_and_moved_aside_on_the_next_append(tmp_path):
    from stepinst_data.stores.ratings import append_ratings, read_ratings_store

    store = tmp_path / "ratings.jsonl"
    scores = {"correctness": 4, "completeness": 4, "order": 5, "overall": 4}
    append_ratings(store, [{"task_name": "task1_a", "annotator": "ann", **scores}])
    with open(store, "a", encoding="utf-8") as f:
        f.write('{"task_name": "task2_b", "annot')  # a crash mid-write
    assert [r["task_name"] for r in read_ratings_store(store).records] == ["task1_a"]
    append_ratings(store, [{"task_name": "task3_c", "annotator": "ann", **scores}])
    assert [r["task_name"] for r in read_ratings_store(store).records] == ["task1_a", "task3_c"]
    assert (tmp_path / "ratings.jsonl.torn").read_text() == '{"task_name": "task2_b", "annot\n'


def test_a_last_line_cut_inside_a_utf8_character_is_ignored(tmp_path):
    from stepinst_data.stores.ratings import append_ratings, read_ratings_store

    store = tmp_path / "ratings.jsonl"
    scores = {"correctness": 4, "completeness": 4, "order": 5, "overall": 4}
    append_ratings(store, [{"task_name": "task1_a", "annotator": "zoë", **scores}])
    with open(store, "ab") as f:
        f.write('{"task_name": "task2_b", "annotator": "zoë'.encode()[:-1])  # cut inside "ë"
    assert [r["annotator"] for r in read_ratings_store(store).records] == ["zoë"]


def test_llm_judge_ratings_never_count_as_human_ratings():
    """steps_quality (and so steps_ordered_hq) and the card's human figures come from people only."""
    from stepinst_data.card.sections import ratings_section
    from stepinst_data.stores.ratings import DEFAULT_RUBRIC, RatingsStore

    def rating(task: str, who: str, score: int) -> dict:
        return {"task_name": task, "annotator": who, "comment": "", **{c: score for c in DEFAULT_RUBRIC.criterion_names}}

    store = RatingsStore(DEFAULT_RUBRIC, [rating("t1", "alice", 2), rating("t1", "bob", 3), rating("t1", "llm:gpt-4o", 5)])
    assert store.overall_by_task() == {"t1": 2.5}
    assert [r["annotator"] for r in store.human_records] == ["alice", "bob"]

    from types import SimpleNamespace

    class Inputs:  # ratings_section reads the store and the build's task names
        ratings = store
        table = SimpleNamespace(infos=[SimpleNamespace(name="t1")])

    text = ratings_section(Inputs())
    assert "2 ratings of 1 tasks by 2 annotators" in text
    assert "also holds 1 ratings by LLM judges (`llm:gpt-4o`)" in text


def test_a_person_can_rate_while_an_llm_judge_runs_on_the_same_store(tmp_path, monkeypatch, tmp_path_factory):
    """One writer per store kind: the judge appends through the ratings store's writer, holding the
    lock for one append at a time, so the rating page and `rate import` are never locked out."""
    import threading
    import time

    from fake_openai import FakeOpenAI
    from stepinst_data.cli import main
    from stepinst_data.stores.ratings import append_ratings, read_ratings_store

    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "tiktoken"))
    store = tmp_path / "ratings.jsonl"
    scores = {"correctness": 2, "completeness": 3, "order": 3, "overall": 2}
    with FakeOpenAI(latency=0.2) as server:
        argv = ["rate", "judge", "--sample", "--model", "m", "--ratings", str(store), "--base-url", server.base_url,
                "--concurrency", "1"]
        judge = threading.Thread(target=lambda: exit_codes.append(main(argv)))
        exit_codes: list[int] = []
        judge.start()
        deadline = time.monotonic() + 120
        while not (store.is_file() and store.read_text().count("llm:m") >= 1) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert judge.is_alive(), "the judge finished before the person rated: nothing was tested"
        append_ratings(store, [{"task_name": "task9001_stepinst_sample_integer_addition", "annotator": "alice", **scores}])
        judge.join()
    assert exit_codes == [0]
    records = read_ratings_store(store).records
    assert [r["task_name"] for r in records if r["annotator"] == "alice"] == ["task9001_stepinst_sample_integer_addition"]
    assert len([r for r in records if r["annotator"] == "llm:m"]) == 12
