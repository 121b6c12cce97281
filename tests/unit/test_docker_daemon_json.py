"""docker_daemon_json: the merge rules, and the module against real files (check mode, diff, idempotence)."""

import json
import os
import stat
from pathlib import Path

import pytest
from ansible_collections.llmstack.gateway.plugins.module_utils import _daemon_json
from ansible_collections.llmstack.gateway.plugins.modules import docker_daemon_json

ENGINE_KEYS = {
    "log-driver": "json-file",
    "log-opts": {"max-size": "10m", "max-file": "3"},
    "registry-mirrors": ["https://mirror.lab.example"],
}
NVIDIA_KEYS = {"runtimes": {"nvidia": {"path": "nvidia-container-runtime", "args": []}}}


# --- merge rules -------------------------------------------------------------------------------


def test_keys_only_the_file_has_survive_a_merge():
    current = {"debug": True, "log-opts": {"labels": "team"}}
    merged = _daemon_json.merge(current, ENGINE_KEYS)
    assert merged["debug"] is True
    assert merged["log-opts"] == {"labels": "team", "max-size": "10m", "max-file": "3"}


def test_objects_merge_at_every_depth():
    current = {"runtimes": {"crun": {"path": "/usr/bin/crun"}, "nvidia": {"path": "old", "runtimeArgs": ["-x"]}}}
    merged = _daemon_json.merge(current, NVIDIA_KEYS)
    assert merged["runtimes"]["crun"] == {"path": "/usr/bin/crun"}
    assert merged["runtimes"]["nvidia"] == {"path": "nvidia-container-runtime", "args": [], "runtimeArgs": ["-x"]}


def test_lists_and_scalars_replace_rather_than_merge():
    current = {"registry-mirrors": ["https://a.example", "https://b.example"], "data-root": "/var/lib/docker"}
    merged = _daemon_json.merge(current, {"registry-mirrors": ["https://c.example"], "data-root": "/srv/docker"})
    assert merged["registry-mirrors"] == ["https://c.example"]
    assert merged["data-root"] == "/srv/docker"


def test_an_object_replaces_a_scalar_and_a_scalar_replaces_an_object():
    assert _daemon_json.merge({"a": 1}, {"a": {"b": 2}}) == {"a": {"b": 2}}
    assert _daemon_json.merge({"a": {"b": 2}}, {"a": None}) == {"a": None}


def test_merge_leaves_its_arguments_alone():
    current = {"log-opts": {"max-size": "1m"}}
    settings = {"log-opts": {"max-file": "3"}}
    _daemon_json.merge(current, settings)
    assert current == {"log-opts": {"max-size": "1m"}}
    assert settings == {"log-opts": {"max-file": "3"}}


def test_two_owners_merging_in_either_order_agree():
    engine_first = _daemon_json.merge(_daemon_json.merge({"debug": True}, ENGINE_KEYS), NVIDIA_KEYS)
    nvidia_first = _daemon_json.merge(_daemon_json.merge({"debug": True}, NVIDIA_KEYS), ENGINE_KEYS)
    assert _daemon_json.same(engine_first, nvidia_first)


def test_merging_what_is_already_there_changes_nothing():
    once = _daemon_json.merge({"debug": True}, ENGINE_KEYS)
    assert _daemon_json.render(_daemon_json.merge(once, ENGINE_KEYS)) == _daemon_json.render(once)


def test_remove_drops_top_level_keys_and_ignores_missing_ones():
    merged = _daemon_json.apply({"default-runtime": "nvidia", "debug": True}, {}, ["default-runtime", "absent"])
    assert merged == {"debug": True}


def test_a_key_both_set_and_removed_is_refused():
    with pytest.raises(ValueError, match="debug"):
        _daemon_json.apply({}, {"debug": True}, ["debug"])


def test_same_tells_json_types_apart():
    assert not _daemon_json.same({"debug": True}, {"debug": 1})
    assert not _daemon_json.same({"n": 1}, {"n": 1.0})
    assert _daemon_json.same({"a": 1, "b": 2}, {"b": 2, "a": 1})


def test_changed_keys_lists_added_changed_and_removed_keys():
    before = {"keep": 1, "change": 1, "drop": 1}
    after = {"keep": 1, "change": 2, "add": 1}
    assert _daemon_json.changed_keys(before, after) == ["add", "change", "drop"]


@pytest.mark.parametrize("text", ["", "  \n", "\n\n"])
def test_an_empty_file_is_an_empty_object(text):
    assert _daemon_json.parse(text, "/etc/docker/daemon.json") == {}


def test_invalid_json_names_the_file_and_the_line():
    with pytest.raises(_daemon_json.DaemonJsonError) as caught:
        _daemon_json.parse('{\n  "debug": true\n  "log-driver": "local"\n}\n', "/etc/docker/daemon.json")
    message = str(caught.value)
    assert "/etc/docker/daemon.json" in message
    assert "line 3" in message


def test_a_top_level_array_is_refused():
    with pytest.raises(_daemon_json.DaemonJsonError, match="JSON object"):
        _daemon_json.parse("[]", "/etc/docker/daemon.json")


def test_render_keeps_key_order_and_ends_with_a_newline():
    text = _daemon_json.render({"z": 1, "a": {"y": 2, "b": 3}})
    assert text.endswith("}\n")
    assert text.index('"z"') < text.index('"a"')
    assert text.index('"y"') < text.index('"b"')


# --- the module against real files ---------------------------------------------------------------


@pytest.fixture
def daemon_json(tmp_path):
    return tmp_path / "etc" / "docker" / "daemon.json"


def run(run_module, path, check_mode=False, diff=False, **args):
    return run_module(docker_daemon_json.main, {"path": str(path), **args}, check_mode=check_mode, diff=diff)


def test_check_mode_on_a_missing_file_predicts_the_change_and_writes_nothing(run_module, daemon_json):
    result = run(run_module, daemon_json, check_mode=True, diff=True, settings=ENGINE_KEYS)
    assert result["changed"] is True
    assert not daemon_json.parent.exists()
    assert result["diff"]["before"] == ""
    assert json.loads(result["diff"]["after"]) == ENGINE_KEYS
    assert result["config"] == ENGINE_KEYS


def test_first_run_creates_the_file_and_the_second_changes_nothing(run_module, daemon_json):
    first = run(run_module, daemon_json, settings=ENGINE_KEYS)
    assert first["changed"] is True
    assert json.loads(daemon_json.read_text()) == ENGINE_KEYS
    assert stat.S_IMODE(daemon_json.stat().st_mode) == 0o644
    assert stat.S_IMODE(daemon_json.parent.stat().st_mode) == 0o755
    again = run(run_module, daemon_json, settings=ENGINE_KEYS)
    assert again["changed"] is False
    assert again["changed_keys"] == []
    in_check_mode = run(run_module, daemon_json, check_mode=True, settings=ENGINE_KEYS)
    assert in_check_mode["changed"] is False


def test_hand_set_keys_and_another_owners_keys_are_kept(run_module, daemon_json):
    daemon_json.parent.mkdir(parents=True)
    daemon_json.write_text('{"debug": true, "runtimes": {"crun": {"path": "/usr/bin/crun"}}}')
    run(run_module, daemon_json, settings=ENGINE_KEYS)
    result = run(run_module, daemon_json, settings=NVIDIA_KEYS)
    assert result["changed"] is True
    assert result["changed_keys"] == ["runtimes"]
    on_disk = json.loads(daemon_json.read_text())
    assert on_disk["debug"] is True
    assert on_disk["runtimes"]["crun"] == {"path": "/usr/bin/crun"}
    assert on_disk["runtimes"]["nvidia"]["path"] == "nvidia-container-runtime"
    assert on_disk["log-opts"] == {"max-size": "10m", "max-file": "3"}
    # Both owners converge: neither undoes the other on the next run.
    assert run(run_module, daemon_json, settings=ENGINE_KEYS)["changed"] is False
    assert run(run_module, daemon_json, settings=NVIDIA_KEYS)["changed"] is False


def test_reformatting_alone_is_not_a_change(run_module, daemon_json):
    daemon_json.parent.mkdir(parents=True)
    daemon_json.write_text('{"log-opts":{"max-file":"3","max-size":"10m"},\n"log-driver":"json-file"}')
    daemon_json.chmod(0o644)
    before = daemon_json.read_text()
    result = run(run_module, daemon_json, settings={"log-driver": "json-file", "log-opts": {"max-size": "10m"}})
    assert result["changed"] is False
    assert daemon_json.read_text() == before


def test_a_type_change_is_a_change(run_module, daemon_json):
    daemon_json.parent.mkdir(parents=True)
    daemon_json.write_text('{"log-opts": {"max-file": 3}}')
    result = run(run_module, daemon_json, settings={"log-opts": {"max-file": "3"}})
    assert result["changed"] is True
    assert json.loads(daemon_json.read_text()) == {"log-opts": {"max-file": "3"}}


def test_diff_shows_the_file_before_and_after(run_module, daemon_json):
    daemon_json.parent.mkdir(parents=True)
    daemon_json.write_text('{"debug": true}\n')
    result = run(run_module, daemon_json, check_mode=True, diff=True, settings=NVIDIA_KEYS)
    assert result["changed"] is True
    assert json.loads(result["diff"]["before"]) == {"debug": True}
    assert json.loads(result["diff"]["after"]) == {"debug": True, **NVIDIA_KEYS}
    assert result["diff"]["before_header"] == str(daemon_json)
    assert json.loads(daemon_json.read_text()) == {"debug": True}


def test_remove_drops_a_key_and_backup_keeps_the_old_file(run_module, daemon_json):
    daemon_json.parent.mkdir(parents=True)
    daemon_json.write_text('{"default-runtime": "nvidia", "debug": true}\n')
    result = run(run_module, daemon_json, remove=["default-runtime"], backup=True)
    assert result["changed"] is True
    assert json.loads(daemon_json.read_text()) == {"debug": True}
    backup = result["backup_file"]
    assert os.path.exists(backup)
    assert json.loads(Path(backup).read_text(encoding="utf-8"))["default-runtime"] == "nvidia"


def test_no_backup_when_nothing_changes(run_module, daemon_json):
    daemon_json.parent.mkdir(parents=True)
    daemon_json.write_text('{"debug": true}\n')
    daemon_json.chmod(0o644)
    result = run(run_module, daemon_json, settings={"debug": True}, backup=True)
    assert result["changed"] is False
    assert "backup_file" not in result
    assert sorted(p.name for p in daemon_json.parent.iterdir()) == ["daemon.json"]


def test_invalid_json_fails_naming_file_and_line_and_changes_nothing(run_module, daemon_json):
    daemon_json.parent.mkdir(parents=True)
    broken = '{\n  "debug": true,\n}\n'
    daemon_json.write_text(broken)
    result = run(run_module, daemon_json, settings=ENGINE_KEYS)
    assert result.failed
    assert str(daemon_json) in result["msg"]
    assert "line 3" in result["msg"]
    assert daemon_json.read_text() == broken


def test_a_key_both_set_and_removed_fails(run_module, daemon_json):
    result = run(run_module, daemon_json, settings={"debug": True}, remove=["debug"])
    assert result.failed
    assert "debug" in result["msg"]
    assert not daemon_json.exists()


def test_nothing_to_merge_into_a_missing_file_creates_nothing(run_module, daemon_json):
    result = run(run_module, daemon_json, remove=["default-runtime"])
    assert result["changed"] is False
    assert not daemon_json.exists()


def test_a_wrong_mode_is_fixed_and_reported(run_module, daemon_json):
    daemon_json.parent.mkdir(parents=True)
    daemon_json.write_text('{"debug": true}\n')
    daemon_json.chmod(0o600)
    assert run(run_module, daemon_json, check_mode=True, settings={"debug": True})["changed"] is True
    assert stat.S_IMODE(daemon_json.stat().st_mode) == 0o600
    assert run(run_module, daemon_json, settings={"debug": True})["changed"] is True
    assert stat.S_IMODE(daemon_json.stat().st_mode) == 0o644
