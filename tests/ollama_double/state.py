"""Everything the double remembers while it runs: settings, loaded models, faults, counters, request log."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import os
import threading
import time
from typing import Any

from . import catalog, durations, store

VERSION = "0.32.15"
DEFAULT_CONTEXT_LENGTH = 4096
MAX_LOG = 5000


def _env_float(env: dict[str, str], key: str, default: float) -> float:
    try:
        return float(env.get(key, "") or default)
    except ValueError:
        return default


def gpu_fraction(value: Any) -> float:
    """GPU setting: true/1 = everything in VRAM, false/0 = CPU only, a fraction in between = partial offload."""
    if isinstance(value, str):
        value = value.strip().lower()
        if value in ("", "0", "false", "no", "off", "cpu"):
            return 0.0
        if value in ("1", "true", "yes", "on", "gpu"):
            return 1.0
        value = float(value)
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    return min(max(float(value), 0.0), 1.0)


@dataclasses.dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = 11434
    models_dir: str = os.path.join(os.path.expanduser("~"), ".ollama", "models")
    catalog_files: list[str] = dataclasses.field(default_factory=list)
    version: str = VERSION
    gpu: float = 0.0
    # The cards discovered at start-up (gpu.Gpu.as_dict()); their free memory caps size_vram. Empty: no cap.
    gpus: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    pull_delay: float = 0.0  # seconds slept after each chunk of a simulated blob download
    chunk_size: int = 16 * 1024
    token_delay: float = 0.0  # seconds slept between streamed chat/generate chunks
    # A long answer: chat/generate replies run on to this many tokens (0: the short reply), as a model that
    # writes a long answer does; options.num_predict still cuts them.
    answer_tokens: int = 0
    keep_alive: float = durations.DEFAULT_KEEP_ALIVE
    max_loaded_models: int = 0
    context_length: int = DEFAULT_CONTEXT_LENGTH
    start_delay: float = 0.0
    start_mode: str = "refuse"  # or "503"
    verbose: bool = False  # one stderr line per request

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        s = cls()
        s.host, s.port = parse_host(env.get("OLLAMA_HOST", ""))
        if env.get("OLLAMA_MODELS"):
            s.models_dir = env["OLLAMA_MODELS"]
        if env.get("OLLAMA_DOUBLE_CATALOG"):
            s.catalog_files = [p for p in env["OLLAMA_DOUBLE_CATALOG"].split(os.pathsep) if p]
        s.version = env.get("OLLAMA_DOUBLE_VERSION", s.version)
        s.gpu = gpu_fraction(env.get("OLLAMA_DOUBLE_GPU", "0"))
        s.pull_delay = _env_float(env, "OLLAMA_DOUBLE_PULL_DELAY", s.pull_delay)
        s.chunk_size = int(_env_float(env, "OLLAMA_DOUBLE_CHUNK_SIZE", s.chunk_size))
        s.token_delay = _env_float(env, "OLLAMA_DOUBLE_TOKEN_DELAY", s.token_delay)
        s.answer_tokens = int(_env_float(env, "OLLAMA_DOUBLE_ANSWER_TOKENS", s.answer_tokens))
        s.keep_alive = durations.env_keep_alive(env.get("OLLAMA_KEEP_ALIVE"))
        s.max_loaded_models = int(_env_float(env, "OLLAMA_MAX_LOADED_MODELS", 0))
        s.context_length = int(_env_float(env, "OLLAMA_CONTEXT_LENGTH", DEFAULT_CONTEXT_LENGTH))
        s.start_delay = _env_float(env, "OLLAMA_DOUBLE_START_DELAY", 0.0)
        s.start_mode = env.get("OLLAMA_DOUBLE_START_MODE", s.start_mode)
        return s


def parse_host(value: str, default_port: int = 11434) -> tuple[str, int]:
    """OLLAMA_HOST as Ollama reads it: [scheme://]host[:port][/path]; default 127.0.0.1:11434."""
    value = value.strip()
    scheme, sep, rest = value.partition("://")
    if not sep:
        rest = value
    elif scheme == "http":
        default_port = 80
    elif scheme == "https":
        default_port = 443
    hostport = rest.split("/", 1)[0]
    host, port = "127.0.0.1", default_port
    if hostport.startswith("["):
        addr, _, tail = hostport[1:].partition("]")
        host = addr or host
        if tail.startswith(":") and tail[1:].isdigit():
            port = int(tail[1:])
    elif hostport.count(":") == 1:
        h, p = hostport.split(":")
        host = h or ""
        if p.isdigit() and int(p) <= 65535:
            port = int(p)
    elif hostport:
        host = hostport
    return host, port


@dataclasses.dataclass
class Loaded:
    model: store.Installed
    display: str
    size: int
    size_vram: int
    context_length: int
    keep_alive: float
    expires_at: float
    last_used: float


class State:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.initial_settings = copy.deepcopy(settings)
        self.lock = threading.RLock()
        self.store = store.Store(settings.models_dir)
        self.catalog = catalog.Catalog()
        for path in settings.catalog_files:
            self.catalog.load_file(path)
        self.blob_locks: dict[str, threading.Lock] = {}
        self.loaded: dict[tuple[str, str, str, str], Loaded] = {}
        self.faults: dict[str, Any] = {}
        self.requests: list[dict[str, Any]] = []
        self.counters = self._new_counters()
        self.started = time.time()
        self.starting_until = self.started + settings.start_delay if settings.start_mode == "503" else 0.0
        self.runner: Any = None  # set by server.Runner; used for "refuse" outages

    @staticmethod
    def _new_counters() -> dict[str, Any]:
        return {
            "pull_requests": 0,
            "pull_requests_by_model": {},
            "registry_manifest_requests": {},
            "registry_bytes": {},
            "registry_bytes_total": 0,
            "chat_requests": 0,
            "generate_requests": 0,
            "embed_requests": 0,
        }

    # -- request log and counters -----------------------------------------------------------------
    def log_request(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.requests.append(entry)
            if len(self.requests) > MAX_LOG:
                del self.requests[: len(self.requests) - MAX_LOG]

    def count(self, key: str, model: str | None = None, amount: int = 1) -> None:
        with self.lock:
            if model is None:
                self.counters[key] = self.counters.get(key, 0) + amount
            else:
                bucket = self.counters.setdefault(key, {})
                bucket[model] = bucket.get(model, 0) + amount

    def add_registry_bytes(self, model: str, n: int) -> None:
        with self.lock:
            self.counters["registry_bytes"][model] = self.counters["registry_bytes"].get(model, 0) + n
            self.counters["registry_bytes_total"] += n

    def blob_lock(self, digest: str) -> threading.Lock:
        with self.lock:
            return self.blob_locks.setdefault(digest, threading.Lock())

    # -- faults -----------------------------------------------------------------------------------
    def take_fault(self, kind: str, model: str) -> dict[str, Any] | None:
        """Consume one use of a pull fault (pull_drop / pull_error) that applies to this model."""
        with self.lock:
            fault = self.faults.get(kind)
            if not fault:
                return None
            wanted = fault.get("model")
            if wanted and wanted.lower() != model.lower():
                return None
            fault = dict(fault)
            times = self.faults[kind].get("times", 1)
            if times is not None:
                times -= 1
                if times <= 0:
                    del self.faults[kind]
                else:
                    self.faults[kind]["times"] = times
            return fault

    def api_fault(self) -> dict[str, Any] | None:
        with self.lock:
            now = time.time()
            if self.starting_until and now < self.starting_until:
                return {"mode": "503", "message": "server is starting"}
            fault = self.faults.get("api")
            if fault and fault.get("until") and now >= fault["until"]:
                del self.faults["api"]
                return None
            return fault

    # -- loaded models ----------------------------------------------------------------------------
    def expire(self) -> None:
        with self.lock:
            now = time.time()
            for key in [k for k, v in self.loaded.items() if v.expires_at <= now]:
                del self.loaded[key]

    def load(self, model: store.Installed, keep_alive: float | None, options: dict[str, Any] | None) -> Loaded:
        with self.lock:
            self.expire()
            duration = self.settings.keep_alive if keep_alive is None else keep_alive
            key = model.name.key()
            now = time.time()
            num_ctx = 0
            if isinstance(options, dict) and isinstance(options.get("num_ctx"), (int, float)):
                num_ctx = int(options["num_ctx"])
            ctx = num_ctx or self.settings.context_length
            if model.context_length and not num_ctx:
                ctx = min(ctx, model.context_length)
            current = self.loaded.get(key)
            if current is None:
                limit = self.settings.max_loaded_models
                while limit and len(self.loaded) >= limit:
                    oldest = min(self.loaded, key=lambda k: self.loaded[k].last_used)
                    del self.loaded[oldest]
                size = model.size
                current = Loaded(
                    model=model,
                    display=model.name.display(),
                    size=size,
                    size_vram=self._vram_for(size),
                    context_length=ctx,
                    keep_alive=duration,
                    expires_at=now,
                    last_used=now,
                )
                self.loaded[key] = current
            current.keep_alive = duration
            current.last_used = now
            current.expires_at = expiry(now, duration)
            return current

    def _vram_for(self, size: int) -> int:
        """The part of a model that goes to VRAM: the GPU share, within what the cards have left."""
        wanted = int(size * self.settings.gpu)
        if not self.settings.gpus:
            return wanted
        free = sum(card["free_mib"] for card in self.settings.gpus) * 1024 * 1024
        used = sum(loaded.size_vram for loaded in self.loaded.values())
        return max(0, min(wanted, free - used))

    def finish_use(self, loaded: Loaded) -> None:
        """After a request: a keep_alive of 0 unloads at once, anything else starts the idle timer."""
        with self.lock:
            now = time.time()
            loaded.expires_at = expiry(now, loaded.keep_alive)
            if loaded.keep_alive == 0:
                self.loaded.pop(loaded.model.name.key(), None)

    def unload(self, model: store.Installed) -> None:
        with self.lock:
            self.loaded.pop(model.name.key(), None)

    # -- reset ------------------------------------------------------------------------------------
    def reset(self, wipe_models: bool = False, reset_catalog: bool = True) -> None:
        with self.lock:
            self.requests.clear()
            self.counters = self._new_counters()
            self.faults.clear()
            self.loaded.clear()
            self.starting_until = 0.0
            keep = (self.settings.host, self.settings.port)
            self.settings = copy.deepcopy(self.initial_settings)
            self.settings.host, self.settings.port = keep
            if reset_catalog:
                self.catalog = catalog.Catalog()
                for path in self.settings.catalog_files:
                    self.catalog.load_file(path)
            if wipe_models:
                self.store.wipe()


# Go's time.Now().Add(math.MaxInt64): about 292 years ahead; what Ollama reports for "forever".
_FOREVER_SECONDS = (2**63 - 1) / 1e9


def expiry(now: float, duration: float) -> float:
    return now + (_FOREVER_SECONDS if duration == durations.FOREVER else duration)


def expiry_text(ts: float) -> str:
    moment = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=ts)
    return store.go_time(moment)
