"""Start, steer and stop an Ollama double from tests.

    from ollama_double.testing import OllamaDouble

    with OllamaDouble(tmp_path / "models") as double:          # in-process thread, free port
        double.api("POST", "/api/pull", {"model": "tinyllama", "stream": False})
        assert double.counters()["pull_requests"] == 1

``OllamaDouble(..., subprocess=True)`` runs ``python -m ollama_double serve`` in a child process instead
(what a pytest fixture wants when the code under test might kill or restart the server).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .server import Runner
from .state import Settings, State, gpu_fraction

PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_ready(host: str, port: int, timeout: float = 15.0) -> None:
    """Wait until GET / answers 200."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection(host, port, timeout=2)
        try:
            conn.request("GET", "/")
            resp = conn.getresponse()
            resp.read()
            if resp.status == 200:
                return
        except (OSError, http.client.HTTPException) as exc:
            last = exc
        finally:
            conn.close()
        time.sleep(0.05)
    raise TimeoutError(f"Ollama double on {host}:{port} not ready after {timeout}s ({last})")


class Response:
    def __init__(self, status: int, headers: dict[str, str], body: bytes):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    def lines(self) -> list[Any]:
        return [json.loads(line) for line in self.body.splitlines() if line.strip()]


class OllamaDouble:
    def __init__(
        self,
        models_dir: str | os.PathLike[str] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        gpu: bool | float = False,
        pull_delay: float = 0.0,
        chunk_size: int | None = None,
        catalog: str | os.PathLike[str] | None = None,
        subprocess: bool = False,
        env: dict[str, str] | None = None,
    ):
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if models_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="ollama-double-")
            models_dir = self._tmp.name
        self.models_dir = str(models_dir)
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.gpu = gpu
        self.pull_delay = pull_delay
        self.chunk_size = chunk_size
        self.catalog = str(catalog) if catalog else None
        self.use_subprocess = subprocess
        self.env = env or {}
        self._proc: Any = None
        self._runner: Any = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ollama_host(self) -> str:
        """The value for OLLAMA_HOST that reaches this double."""
        return f"{self.host}:{self.port}"

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self, timeout: float = 15.0) -> OllamaDouble:
        if self.use_subprocess:
            env = {**os.environ, **self.env}
            env["PYTHONPATH"] = PACKAGE_PARENT + os.pathsep + env.get("PYTHONPATH", "")
            cmd = [sys.executable, "-m", "ollama_double", "serve", "--quiet", "--host", self.host]
            cmd += ["--port", str(self.port), "--models-dir", self.models_dir, "--gpu", str(float(self.gpu))]
            cmd += ["--pull-delay", str(self.pull_delay)]
            if self.chunk_size:
                cmd += ["--chunk-size", str(self.chunk_size)]
            if self.catalog:
                cmd += ["--catalog", self.catalog]
            self._proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        else:
            settings = Settings.from_env({**self.env, "OLLAMA_MODELS": self.models_dir})
            settings.host, settings.port = self.host, self.port
            settings.gpu = gpu_fraction(self.gpu)
            settings.pull_delay = self.pull_delay
            if self.chunk_size:
                settings.chunk_size = self.chunk_size
            if self.catalog:
                settings.catalog_files.append(self.catalog)
            self._runner = Runner(State(settings))
            self._thread = threading.Thread(target=self._runner.serve, name="ollama-double", daemon=True)
            self._thread.start()
        try:
            wait_ready(self.host, self.port, timeout)
        except TimeoutError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(10)
            if self._proc.stderr:
                self._proc.stderr.close()
            self._proc = None
        if self._runner is not None:
            self._runner.stop()
            if self._thread is not None:
                self._thread.join(10)
            self._runner = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> OllamaDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- HTTP -------------------------------------------------------------------------------------
    def api(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None, timeout: float = 30
    ) -> Response:
        """One request; the whole answer is read (streams included: see Response.lines())."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            payload = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
            hdrs = {"Content-Type": "application/json"} if payload is not None else {}
            hdrs.update(headers or {})
            conn.request(method, path, body=payload, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
            return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
        finally:
            conn.close()

    @contextlib.contextmanager
    def stream(self, path: str, body: Any, timeout: float = 30) -> Iterator[Iterator[Any]]:
        """POST and iterate over NDJSON lines as they arrive; leaving the block closes the connection."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request("POST", path, body=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            yield (json.loads(line) for line in resp if line.strip())
        finally:
            conn.close()

    def control(self, method: str, path: str, body: Any = None) -> Any:
        resp = self.api(method, "/_double/" + path.lstrip("/"), body if body is not None else {})
        if resp.status >= 400:
            raise RuntimeError(f"control {method} {path}: {resp.status} {resp.body!r}")
        return resp.json()

    # -- control helpers --------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return self.control("GET", "state")

    def requests(self, path: str = "", method: str = "") -> list[dict[str, Any]]:
        query = "&".join(f"{k}={v}" for k, v in (("path", path), ("method", method)) if v)
        return self.control("GET", "requests" + (f"?{query}" if query else ""))["requests"]

    def clear_requests(self) -> None:
        self.control("DELETE", "requests")

    def counters(self) -> dict[str, Any]:
        return self.control("GET", "counters")

    def reset(self, models: bool = False) -> None:
        self.control("POST", "reset", {"models": models})

    def set_gpu(self, gpu: bool | float) -> None:
        self.control("POST", "gpu", {"gpu": gpu})

    def configure(self, **settings: Any) -> None:
        self.control("POST", "config", settings)

    def install(self, model: str) -> None:
        self.control("POST", "install", {"model": model})

    def add_catalog_model(self, spec: dict[str, Any]) -> dict[str, Any]:
        return self.control("POST", "catalog", spec)["added"][0]

    def fault_pull_drop(self, after_bytes: int, times: int = 1, model: str | None = None) -> None:
        self.control("POST", "fault/pull-drop", {"after_bytes": after_bytes, "times": times, "model": model})

    def fault_pull_error(self, error: str, after_bytes: int = 0, times: int = 1, model: str | None = None) -> None:
        body = {"error": error, "after_bytes": after_bytes, "times": times, "model": model}
        self.control("POST", "fault/pull-error", body)

    def fault_api(self, mode: str, seconds: float | None = None, message: str | None = None) -> None:
        """mode: an HTTP status ("500", "503"), "reset" (close without answer), "refuse" (stop listening for
        ``seconds``), or "delay" (answer late)."""
        self.control("POST", "fault/api", {"mode": mode, "seconds": seconds, "message": message})

    def end_outage(self, timeout: float = 10) -> None:
        """End a "refuse" outage now and wait until the double answers again (in-process doubles only)."""
        if self._runner is None:
            raise RuntimeError("end_outage needs an in-process double")
        self._runner.end_outage()
        wait_ready(self.host, self.port, timeout)

    def registry_offline(self, offline: bool = True) -> None:
        self.control("POST", "fault/registry-offline", {"offline": offline})

    def clear_faults(self) -> None:
        self.control("DELETE", "fault")
