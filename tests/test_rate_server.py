"""The rating page without a browser: server-side validation, resume, one server per store."""

from __future__ import annotations

import re

import pytest
from rate_helpers import CRITERIA, SAMPLE_TASKS, sample_session

from stepinst_data.ratings.server import RatingServer, create_app
from stepinst_data.stores.ratings import RatingsError, read_ratings_store


def _form(page: str, **scores: str) -> dict[str, str]:
    form = {
        "task_name": re.search(r'name="task_name" value="([^"]+)"', page).group(1),
        "token": re.search(r'name="token" value="([^"]+)"', page).group(1),
    }
    form.update({c: "4" for c in CRITERIA})
    form.update(scores)
    return form


@pytest.fixture
def page(tmp_path):
    session = sample_session(tmp_path / "ratings.jsonl")
    return session, create_app(session).test_client()


def test_a_submission_is_stored_and_the_page_moves_on(page):
    session, client = page
    first = client.get("/").get_data(as_text=True)
    assert f"<code id=\"task-name\">{SAMPLE_TASKS[0]}</code>" in first and "0 / 12 rated" in first
    assert "<b>correctness</b> — Following the steps" in first and '<ol class="steps" id="steps">' in first
    response = client.post("/rate", data=_form(first, overall="5", comment="  good  "))
    assert response.status_code == 303 and response.headers["Location"] == "/"
    second = client.get("/").get_data(as_text=True)
    assert SAMPLE_TASKS[1] in second and "1 / 12 rated" in second
    assert read_ratings_store(session.store).records == [
        {"task_name": SAMPLE_TASKS[0], "annotator": "alice", "correctness": 4, "completeness": 4, "order": 4,
         "overall": 5, "comment": "good"}
    ]
    again = client.post("/rate", data=_form(first))  # the same page posted twice (a double click)
    assert again.status_code == 409 and len(read_ratings_store(session.store).records) == 1


@pytest.mark.parametrize(
    "change, status, message",
    [
        ({"task_name": "task9999_forged"}, 400, "unknown task"),
        ({"task_name": SAMPLE_TASKS[3]}, 400, "token is invalid"),  # a real task, but not the one this page is for
        ({"token": "0" * 64}, 400, "token is invalid"),
        ({"overall": "6"}, 400, "overall: score &#39;6&#39; is not an integer from 1 to 5"),
        ({"order": "4.5"}, 400, "order: score"),
        ({"correctness": ""}, 400, "correctness: score"),
        ({"comment": "x" * 2001}, 400, "longer than 2000"),
    ],
)
def test_forged_or_bad_submissions_are_rejected_and_nothing_is_written(page, change, status, message):
    session, client = page
    form = _form(client.get("/").get_data(as_text=True))
    form.update(change)
    response = client.post("/rate", data=form)
    assert response.status_code == status and message in response.get_data(as_text=True)
    assert not session.store.exists()


def test_a_new_server_resumes_and_old_pages_are_refused(tmp_path):
    store = tmp_path / "ratings.jsonl"
    client = create_app(sample_session(store)).test_client()
    old_page = client.get("/").get_data(as_text=True)
    client.post("/rate", data=_form(old_page))
    stale = client.get("/").get_data(as_text=True)  # rendered by the first server, for task 2
    restarted = create_app(sample_session(store)).test_client()
    assert SAMPLE_TASKS[1] in restarted.get("/").get_data(as_text=True)
    assert restarted.post("/rate", data=_form(stale)).status_code == 400  # its token died with the server
    bob = create_app(sample_session(store, "bob")).test_client()  # another annotator starts at the first task
    assert SAMPLE_TASKS[0] in bob.get("/").get_data(as_text=True)


def test_done_page_after_the_last_task(tmp_path):
    session = sample_session(tmp_path / "r.jsonl")
    session.tasks = dict(list(session.tasks.items())[:1])
    client = create_app(session).test_client()
    client.post("/rate", data=_form(client.get("/").get_data(as_text=True)))
    done = client.get("/").get_data(as_text=True)
    assert 'id="done"' in done and "1 / 1 rated" in done


def test_a_second_server_on_the_same_store_is_refused(tmp_path):
    store = tmp_path / "ratings.jsonl"
    with RatingServer(sample_session(store), port=0) as server:
        assert server.url.startswith("http://127.0.0.1:")
        with pytest.raises(RatingsError, match="already being served by another `stepinst rate serve`"):
            RatingServer(sample_session(store, "bob"), port=0)
    RatingServer(sample_session(store), port=0).start().stop()  # free again once stopped


def test_llm_names_are_reserved_for_judges(tmp_path):
    with pytest.raises(RatingsError, match="reserved for LLM judges"):
        sample_session(tmp_path / "r.jsonl", "llm:gpt")


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8765", "127.0.0.1.evil.example", "10.0.0.1"])
def test_a_request_for_another_host_is_refused(page, host):
    """DNS rebinding: a page on evil.example resolving to 127.0.0.1 must not read the page or its token."""
    session, client = page
    response = client.get("/", headers={"Host": host})
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert body == f"refused: Host {host!r} is not this rating page's address; open the URL `stepinst rate serve` printed\n"
    assert "token" not in body
    form = _form(client.get("/").get_data(as_text=True))
    assert client.post("/rate", data=form, headers={"Host": host}).status_code == 400
    assert not session.store.exists()


@pytest.mark.parametrize("origin", ["http://evil.example", "http://localhost:9999", "null", "https://evil.example"])
def test_a_post_from_another_origin_is_refused_and_nothing_is_written(page, origin):
    session, client = page
    form = _form(client.get("/").get_data(as_text=True))
    response = client.post("/rate", data=form, headers={"Origin": origin})
    assert response.status_code == 403
    assert response.get_data(as_text=True) == (
        f"refused: a POST from another site (Origin {origin!r}); submit ratings from the rating page itself\n"
    )
    assert not session.store.exists()
    assert client.post("/rate", data=form, headers={"Origin": "http://localhost"}).status_code == 303  # its own page
    assert len(read_ratings_store(session.store).records) == 1


def test_the_bound_server_answers_only_to_its_own_address(tmp_path):
    """Over real HTTP: 127.0.0.1:PORT and localhost:PORT are served; another name or port is refused."""
    import http.client

    with RatingServer(sample_session(tmp_path / "ratings.jsonl"), port=0) as server:
        port = server.server.server_port

        def get(host: str) -> tuple[int, str]:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/", headers={"Host": host})
            response = conn.getresponse()
            result = response.status, response.read().decode()
            conn.close()
            return result

        assert get(f"127.0.0.1:{port}")[0] == 200 and get(f"localhost:{port}")[0] == 200
        for host in (f"evil.example:{port}", f"127.0.0.1:{port + 1}", "localhost"):
            status, body = get(host)
            assert status == 400 and body.startswith(f"refused: Host {host!r}")
