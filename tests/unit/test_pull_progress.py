"""Pull progress: the module's aggregate over layers, its progress file, and the controller's lines."""

import json
import os
import stat

from ansible_collections.llmstack.gateway.plugins.module_utils._ollama import PullProgress
from ansible_collections.llmstack.gateway.plugins.module_utils._progress_file import ProgressFile
from ansible_collections.llmstack.gateway.plugins.plugin_utils.pull_progress import (
    ProgressTracker,
    human_bytes,
    human_seconds,
)

# tinyllama's pull stream as Ollama sends it (two of its layers; digests shortened, `completed` omitted at 0).
STREAM = [
    {"status": "pulling manifest"},
    {"status": "pulling 2af3b81862c6", "digest": "sha256:2af3b81862c6", "total": 637699456},
    {"status": "pulling 2af3b81862c6", "digest": "sha256:2af3b81862c6", "total": 637699456, "completed": 327614464},
    {"status": "pulling af0ddbdaaa26", "digest": "sha256:af0ddbdaaa26", "total": 70, "completed": 70},
    {"status": "pulling 2af3b81862c6", "digest": "sha256:2af3b81862c6", "total": 637699456, "completed": 637699456},
    {"status": "verifying sha256 digest"},
    {"status": "writing manifest"},
    {"status": "success"},
]


def test_the_aggregate_sums_every_layer_announced_so_far():
    seen = []
    progress = PullProgress(on_update=lambda p: seen.append((p.completed_bytes, p.total_bytes)))
    for event in STREAM:
        progress.update(event)
    assert seen[2] == (327614464, 637699456)
    assert seen[3] == (327614464 + 70, 637699456 + 70)
    assert seen[-1] == (637699526, 637699526)


def test_the_progress_file_is_private_throttled_and_removed(tmp_path):
    path = tmp_path / "0.json"
    clock = iter([0.0, 0.1, 0.7, 0.8]).__next__
    writer = ProgressFile(str(path), clock=clock)
    progress = PullProgress(on_update=writer.write)
    progress.update(STREAM[1])
    assert json.loads(path.read_text()) == {"completed": 0, "total": 637699456, "status": "pulling 2af3b81862c6"}
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    progress.update(STREAM[2])  # 0.1 s later: not rewritten
    assert json.loads(path.read_text())["completed"] == 0
    progress.update(STREAM[3])  # 0.7 s: rewritten
    assert json.loads(path.read_text())["completed"] == 327614534
    assert [p.name for p in tmp_path.iterdir()] == ["0.json"]  # no temporary file left behind
    writer.close()
    assert not path.exists()


def test_without_a_path_nothing_is_written(tmp_path):
    writer = ProgressFile(None)
    writer.write(PullProgress())
    writer.close()


def test_sizes_and_durations_read_the_way_people_write_them():
    assert human_bytes(70) == "70 B"
    assert human_bytes(327614464) == "312.4 MiB"
    assert human_bytes(637699456) == "608.2 MiB"
    assert human_bytes(13 * 1024**3) == "13.0 GiB"
    assert human_seconds(8.4) == "8 s"
    assert human_seconds(125) == "2 min 5 s"
    assert human_seconds(3 * 3600 + 7 * 60) == "3 h 7 min"


def test_the_rate_comes_from_the_change_since_the_last_poll_and_the_eta_from_the_rate():
    tracker = ProgressTracker()
    total = 637699456
    assert tracker.line("tinyllama", {"completed": 0, "total": total}, 100.0) == (
        "tinyllama: 0 B of 608.2 MiB, rate unknown yet"
    )
    assert tracker.line("tinyllama", {"completed": 216006656, "total": total}, 105.0) == (
        "tinyllama: 206.0 MiB of 608.2 MiB, 41.2 MiB/s, ETA 10 s"
    )
    # A stall: no rate, so no ETA either.
    assert tracker.line("tinyllama", {"completed": 216006656, "total": total}, 110.0) == (
        "tinyllama: 206.0 MiB of 608.2 MiB, 0 B/s, ETA unknown"
    )
    # Each model keeps its own history.
    assert tracker.line("qwen2.5:0.5b", {"completed": 1, "total": 2}, 110.0).endswith("rate unknown yet")


def test_no_reading_prints_nothing():
    assert ProgressTracker().line("tinyllama", None, 1.0) is None
