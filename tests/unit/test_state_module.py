"""StateModule: read -> compare -> check/diff -> write, driven once for every state module."""

import pytest
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common import warnings
from ansible_collections.llmstack.gateway.plugins.module_utils._state import UNKNOWN, StateModule


class StoreError(Exception):
    pass


class Store:
    """The thing a module manages: one value, and a log of every write it received."""

    def __init__(self, value):
        self.value = value
        self.writes = []


class ValueModule(StateModule):
    """Sets the store's value; `unknown` makes the comparison something only a write can decide."""

    errors = (StoreError,)
    diff_header = "the store"

    def __init__(self, module, store):
        super().__init__(module)
        self.store = store

    def read(self):
        return {"value": self.store.value}

    def desired(self, before):
        if self.params["unknown"]:
            return {"value": UNKNOWN}
        return {"value": self.params["value"]}

    def compare(self, before, after):
        if after["value"] is UNKNOWN:
            return UNKNOWN
        return before["value"] != after["value"]

    def write(self, before, after):
        if self.params["value"] == "refused":
            raise StoreError("the store refused the value")
        self.store.writes.append(self.params["value"])
        self.store.value = self.params["value"]
        return {"value": self.store.value}

    def report(self, before, after):
        return {"value": after["value"], "previous": before["value"]}

    def follow_up(self, after, changed):
        if self.params["touch"]:
            self.result["touched"] = not self.check_mode
            return True
        return changed


@pytest.fixture
def store():
    return Store("old")


@pytest.fixture
def run(run_module, store, monkeypatch):
    # Warnings are kept per process, and every module here runs in this one.
    monkeypatch.setattr(warnings, "_global_warnings", {})

    def _run(check_mode=False, diff=False, value="new", unknown=False, touch=False):
        def main():
            module = AnsibleModule(
                argument_spec={
                    "value": {"type": "str"},
                    "unknown": {"type": "bool", "default": False},
                    "touch": {"type": "bool", "default": False},
                },
                supports_check_mode=True,
            )
            ValueModule(module, store).run()

        args = {"value": value, "unknown": unknown, "touch": touch}
        return run_module(main, args, check_mode=check_mode, diff=diff)

    return _run


def test_check_mode_predicts_the_change_and_writes_nothing(run, store):
    result = run(check_mode=True, diff=True)
    assert result["changed"] is True
    assert store.writes == []
    assert store.value == "old"
    assert result["value"] == "new"
    assert result["diff"] == {
        "before": {"value": "old"},
        "after": {"value": "new"},
        "before_header": "the store",
        "after_header": "the store",
    }


def test_a_real_run_writes_once_and_reports_the_state_reached(run, store):
    result = run(diff=True)
    assert result["changed"] is True
    assert store.writes == ["new"]
    assert (result["value"], result["previous"]) == ("new", "old")
    assert result["diff"]["before"] == {"value": "old"}
    assert result["diff"]["after"] == {"value": "new"}


@pytest.mark.parametrize("check_mode", [False, True])
def test_no_change_and_no_write_when_the_state_is_already_wanted(run, store, check_mode):
    result = run(check_mode=check_mode, diff=True, value="old")
    assert result["changed"] is False
    assert store.writes == []
    assert result["diff"]["before"] == result["diff"]["after"] == {"value": "old"}


def test_no_diff_unless_asked(run):
    assert "diff" not in run()


def test_check_mode_that_cannot_tell_reports_no_change_and_warns(run, store):
    result = run(check_mode=True, diff=True, unknown=True)
    assert result["changed"] is False
    assert store.writes == []
    assert result["diff"]["after"] == result["diff"]["before"] == {"value": "old"}
    assert any("cannot tell" in text for text in result.warning_texts)


@pytest.mark.parametrize(("value", "changed"), [("new", True), ("old", False)])
def test_a_comparison_only_a_write_can_decide_is_decided_by_the_state_reached(run, store, value, changed):
    result = run(unknown=True, value=value)
    assert store.writes == [value]
    assert result["changed"] is changed
    assert not result.warning_texts


def test_a_failed_write_fails_with_its_message_and_what_was_gathered(run, store):
    result = run(value="refused")
    assert result.failed
    assert result["msg"] == "the store refused the value"
    # The plan said change, and the write was attempted.
    assert result["changed"] is True
    assert store.value == "old"


@pytest.mark.parametrize("check_mode", [False, True])
def test_the_follow_up_step_can_report_a_change_on_its_own(run, store, check_mode):
    result = run(check_mode=check_mode, value="old", touch=True)
    assert result["changed"] is True
    assert store.writes == []
    assert result["touched"] is not check_mode


def test_unknown_is_neither_true_nor_false():
    with pytest.raises(TypeError):
        bool(UNKNOWN)
