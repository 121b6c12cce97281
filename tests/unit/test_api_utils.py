"""The shared HTTP helpers: error texts, retries, waiting, and pull progress accounting."""

import pytest
from ansible_collections.llmstack.gateway.plugins.module_utils._api import (
    ApiError,
    error_text,
    is_loopback,
    wait_until,
    with_retries,
)
from ansible_collections.llmstack.gateway.plugins.module_utils._ollama import PullProgress


@pytest.mark.parametrize(
    ("body", "text"),
    [
        (b'{"error":"pull model manifest: file does not exist"}', "pull model manifest: file does not exist"),
        ('{"error":{"message":"No connected db.","type":"no_db_connection"}}', "No connected db."),
        ('{"detail":"Not Found"}', "Not Found"),
        (b"Internal Server Error", "Internal Server Error"),
        (None, ""),
    ],
)
def test_error_text_takes_the_services_own_words(body, text):
    assert error_text(body) == text


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:11434", True),
        ("http://localhost:4000", True),
        ("http://[::1]:4000", True),
        ("http://gpu-box-01.lab:11434", False),
        ("http://10.1.2.3:11434", False),
    ],
)
def test_loopback_detection_keeps_proxies_away_from_local_services(url, loopback):
    assert is_loopback(url) is loopback


def test_retries_only_retryable_errors_and_backs_off():
    calls, sleeps, notes = [], [], []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise ApiError("dropped", retryable=True)
        return "ok"

    result = with_retries(flaky, attempts=3, delay=1, on_retry=lambda n, e: notes.append(n), sleep=sleeps.append)
    assert result == "ok"
    assert len(calls) == 3
    assert sleeps == [1, 2]
    assert notes == [1, 2]


def test_a_permanent_error_is_not_retried():
    calls = []

    def broken():
        calls.append(1)
        raise ApiError("file does not exist")

    with pytest.raises(ApiError):
        with_retries(broken, attempts=5, sleep=lambda _s: None)
    assert len(calls) == 1


def test_retries_give_up_after_the_limit():
    calls = []

    def down():
        calls.append(1)
        raise ApiError("refused", retryable=True)

    with pytest.raises(ApiError):
        with_retries(down, attempts=2, sleep=lambda _s: None)
    assert len(calls) == 3


def test_wait_until_polls_until_done_and_reports_elapsed():
    now = [0.0]
    answers = iter([(False, "starting"), (False, "starting"), (True, "up")])

    def sleep(seconds):
        now[0] += seconds

    done, detail, elapsed = wait_until(lambda: next(answers), timeout=60, delay=5, clock=lambda: now[0], sleep=sleep)
    assert (done, detail, elapsed) == (True, "up", 10.0)


def test_wait_until_stops_at_the_timeout():
    now = [0.0]

    def sleep(seconds):
        now[0] += seconds

    done, detail, elapsed = wait_until(lambda: (False, "down"), timeout=12, delay=5, clock=lambda: now[0], sleep=sleep)
    assert not done
    assert detail == "down"
    assert elapsed <= 12


def test_pull_progress_counts_only_new_bytes_of_a_resumed_layer():
    progress = PullProgress()
    # A first attempt that dropped after 400 bytes...
    for event in [
        {"status": "pulling manifest"},
        {"status": "pulling aaaaaaaaaaaa", "digest": "sha256:aaa", "total": 1000},
        {"status": "pulling aaaaaaaaaaaa", "digest": "sha256:aaa", "total": 1000, "completed": 400},
    ]:
        progress.update(event)
    assert not progress.succeeded
    assert progress.bytes_pulled == 400
    # ...and the retry, which Ollama resumes at 400, into the same progress.
    for event in [
        {"status": "pulling manifest"},
        {"status": "pulling aaaaaaaaaaaa", "digest": "sha256:aaa", "total": 1000, "completed": 400},
        {"status": "pulling aaaaaaaaaaaa", "digest": "sha256:aaa", "total": 1000, "completed": 1000},
        {"status": "verifying sha256 digest"},
        {"status": "writing manifest"},
        {"status": "success"},
    ]:
        progress.update(event)
    assert progress.succeeded
    assert progress.bytes_pulled == 1000
    assert progress.layers == ["sha256:aaa"]


def test_pull_progress_of_a_layer_already_on_disk_counts_nothing():
    progress = PullProgress()
    progress.update({"status": "pulling bbbbbbbbbbbb", "digest": "sha256:bbb", "total": 500, "completed": 500})
    progress.update({"status": "success"})
    assert progress.bytes_pulled == 0
