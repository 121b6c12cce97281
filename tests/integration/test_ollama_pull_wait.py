"""ollama_pull_wait prints each pulling model's progress at every poll, read from ollama_model's progress file."""

import re

LINE = re.compile(r"^(?P<model>\S+): (?P<done>[0-9.]+ \w+) of (?P<total>[0-9.]+ \w+), (?P<rest>.*)$")
UNITS = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}


def as_bytes(text):
    number, unit = text.split()
    return float(number) * UNITS[unit]


def test_a_slow_pull_prints_growing_progress_and_a_present_model_prints_none(run_playbook, ollama, tmp_path):
    ollama.install("tinyllama")
    # 128 chunks of 16 KiB, 0.12 s each: a pull of some 15 s, watched once a second (a poll itself takes
    # one or two seconds on a busy two-core machine: two module runs).
    ollama.configure(pull_delay=0.12, chunk_size=16384)
    progress_dir = tmp_path / "progress"
    progress_dir.mkdir(mode=0o700)

    extra_vars = {"ollama_url": ollama.url, "models": ["gpt-oss:20b", "tinyllama"], "progress_dir": str(progress_dir)}
    run = run_playbook("ollama_pull_wait", extra_vars=extra_vars)

    outcome = run.result("Wait for the pulls")
    by_model = {r["item"]: r for r in outcome["results"]}
    assert by_model["gpt-oss:20b"]["changed"] is True
    assert by_model["gpt-oss:20b"]["pulled"] is True
    assert by_model["tinyllama"]["changed"] is False
    assert by_model["tinyllama"]["pulled"] is False
    assert outcome["changed"] is True

    printed = [line for line in run.stdout.splitlines() if LINE.match(line)]
    assert printed == outcome["progress"]
    assert all(line.startswith("gpt-oss:20b: ") for line in printed), printed
    assert len(printed) >= 3, printed
    done = [as_bytes(LINE.match(line)["done"]) for line in printed]
    assert done == sorted(done) and done[-1] > done[0], printed
    # From the second line on there is a rate and an ETA.
    assert any(re.search(r", [0-9.]+ \w+/s, ETA \d+", line) for line in printed[1:]), printed
    # The module removed its progress file at the end.
    assert list(progress_dir.iterdir()) == []


def test_a_failed_pull_fails_the_wait_with_ollamas_words_and_the_others_still_report(run_playbook, ollama, tmp_path):
    progress_dir = tmp_path / "progress"
    progress_dir.mkdir(mode=0o700)
    extra_vars = {
        "ollama_url": ollama.url,
        "models": ["no-such-model:7b", "qwen2.5:0.5b"],
        "progress_dir": str(progress_dir),
    }
    run = run_playbook("ollama_pull_wait", extra_vars=extra_vars, expect_rc=2)

    outcome = run.result("Wait for the pulls")
    assert outcome["failed"]
    assert outcome["msg"].startswith("no-such-model:7b: ")
    assert "pull model manifest: file does not exist" in outcome["msg"]
    by_model = {r["item"]: r for r in outcome["results"]}
    assert by_model["qwen2.5:0.5b"]["changed"] is True
    assert list(progress_dir.iterdir()) == []
