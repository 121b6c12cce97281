"""Make the checkout importable as ansible_collections.llmstack.gateway and run modules in-process."""

import json
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "collections"))
sys.path.insert(0, str(REPO / "tests"))

from ansible.module_utils.testing import patch_module_args  # noqa: E402


class ModuleResult(dict):
    """The JSON a module printed, plus whether it failed."""

    @property
    def failed(self):
        return bool(self.get("failed"))

    @property
    def warning_texts(self):
        """Warnings as text (ansible-core 2.19 prints them as structured events)."""
        return [w if isinstance(w, str) else w["event"]["msg"] for w in self.get("warnings", [])]


@pytest.fixture
def run_module(capsys, monkeypatch):
    """Run a module's main() with the given arguments; return what it printed as a dict."""
    from ansible.module_utils import _internal  # noqa: PLC0415

    # Once controller code is imported in this process (other tests import ansible.errors), module
    # warnings would go to the controller's display instead of the result: run as on a managed host.
    monkeypatch.setattr(_internal, "is_controller", False)

    def _run(main, args, check_mode=False, diff=False):
        if check_mode:
            args = {**args, "_ansible_check_mode": True}
        if diff:
            args = {**args, "_ansible_diff": True}
        with patch_module_args(args), pytest.raises(SystemExit):
            main()
        out = capsys.readouterr().out
        return ModuleResult(json.loads(out))

    return _run


@pytest.fixture
def simulated_nvidia_smi(tmp_path, monkeypatch):
    """A SIMULATED nvidia-smi first on PATH; call it with a recorded case's name to replay that case."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "nvidia-smi").symlink_to(REPO / "tests" / "simulated" / "nvidia-smi")
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")

    def use(case):
        monkeypatch.setenv("SIMULATED_NVIDIA_SMI_CASE", str(REPO / "tests" / "unit" / "fixtures" / "nvidia-smi" / case))

    return use
