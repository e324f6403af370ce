"""End-to-end: the rating page in a real headless Chromium (Debian's ``chromium``, driven by Playwright).

Rates two tasks (one with the mouse, one with the keyboard shortcuts), restarts the server, and
finds both ratings in the store and the page at the third task.
"""

from __future__ import annotations

import os
import shutil

import pytest
from rate_helpers import CRITERIA, SAMPLE_TASKS, sample_session

from stepinst_data.ratings.server import RatingServer
from stepinst_data.stores.ratings import read_ratings_store

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def _chromium() -> str:
    for candidate in (os.environ.get("STEPINST_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        path = candidate and shutil.which(candidate)
        if path:
            return path
    pytest.skip("no Chromium found (install Debian's `chromium`: apt-get install -y chromium; .ci/run does it)")


@pytest.fixture
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    executable = _chromium()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.mark.slow
def test_rate_two_tasks_restart_and_resume_in_a_real_browser(browser, tmp_path):
    store = tmp_path / "ratings.jsonl"
    page = browser.new_page()
    with RatingServer(sample_session(store), port=0) as server:
        page.goto(server.url)
        assert page.text_content("#task-name") == SAMPLE_TASKS[0]
        assert page.text_content("#progress").strip() == "0 / 12 rated"
        assert page.locator("#steps li").count() >= 3
        for criterion, score in zip(CRITERIA, ("5", "4", "3", "5")):  # the mouse
            page.check(f"input[name={criterion}][value='{score}']")
        page.fill("textarea[name=comment]", "clear steps")
        page.click("#submit")
        page.wait_for_selector(f"#task-name:text('{SAMPLE_TASKS[1]}')")
        assert page.text_content("#progress").strip() == "1 / 12 rated"
        for key in "2342":  # the keyboard: one digit per criterion, then Enter
            page.keyboard.press(key)
        assert page.is_checked("input[name=overall][value='2']")
        page.keyboard.press("Enter")
        page.wait_for_selector(f"#task-name:text('{SAMPLE_TASKS[2]}')")

    with RatingServer(sample_session(store), port=0) as server:  # a restart, on another port
        page.goto(server.url)
        assert page.text_content("#task-name") == SAMPLE_TASKS[2]
        assert page.text_content("#progress").strip() == "2 / 12 rated"

    records = read_ratings_store(store).records
    assert [(r["task_name"], r["annotator"]) for r in records] == [(SAMPLE_TASKS[0], "alice"), (SAMPLE_TASKS[1], "alice")]
    assert [records[0][c] for c in CRITERIA] == [5, 4, 3, 5] and records[0]["comment"] == "clear steps"
    assert [records[1][c] for c in CRITERIA] == [2, 3, 4, 2]
