"""The models directory (OLLAMA_MODELS), laid out like Ollama's own.

``manifests/<host>/<namespace>/<model>/<tag>`` holds each installed model's manifest (JSON), and
``blobs/sha256-<hex>`` the blobs. A blob being downloaded is ``blobs/sha256-<hex>-partial`` (Ollama keeps
``-partial-N`` part files; one file is enough here): its length is how far the download got, and the next
pull resumes from there. A recreated container with the same volume therefore keeps its models and its
partial downloads, and a models directory can be copied between hosts like a real one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from . import catalog, gguf, names

DIGEST_RE = re.compile(r"^sha256[:-][0-9a-fA-F]{64}$")


class InvalidDigestError(ValueError):
    def __init__(self) -> None:
        super().__init__("invalid digest format")


@dataclass
class Installed:
    """An installed model, read from its manifest."""

    name: names.Name
    manifest: dict[str, Any]
    digest: str  # sha256 hex of the manifest file, Ollama's model "ID"
    modified: float
    store: Store
    _kv: dict[str, Any] | None = field(default=None, repr=False)
    _config: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def layers(self) -> list[dict[str, Any]]:
        return list(self.manifest.get("layers", []))

    @property
    def size(self) -> int:
        config = self.manifest.get("config") or {}
        return sum(int(layer.get("size", 0)) for layer in self.layers) + int(config.get("size", 0))

    def layer_text(self, media_type: str) -> str:
        for layer in self.layers:
            if layer.get("mediaType") == media_type:
                try:
                    with open(self.store.blob_path(layer["digest"]), encoding="utf-8", errors="replace") as f:
                        return f.read()
                except OSError:
                    return ""
        return ""

    def model_blob(self) -> str | None:
        for layer in self.layers:
            if layer.get("mediaType") == catalog.MEDIA_MODEL:
                return self.store.blob_path(layer["digest"])
        return None

    @property
    def config(self) -> dict[str, Any]:
        if self._config is None:
            self._config = {}
            digest = (self.manifest.get("config") or {}).get("digest")
            if digest:
                try:
                    with open(self.store.blob_path(digest), encoding="utf-8") as f:
                        self._config = json.load(f)
                except (OSError, ValueError):
                    self._config = {}
        return self._config

    @property
    def kv(self) -> dict[str, Any]:
        if self._kv is None:
            self._kv = {}
            path = self.model_blob()
            if path:
                try:
                    with open(path, "rb") as f:
                        self._kv = gguf.read_metadata(f)
                except (OSError, gguf.NotGGUFError):
                    self._kv = {}
        return self._kv

    @property
    def architecture(self) -> str:
        return str(self.kv.get("general.architecture") or self.config.get("model_family") or "")

    def arch_value(self, key: str, default: Any = None) -> Any:
        return self.kv.get(f"{self.architecture}.{key}", default)

    @property
    def template(self) -> str:
        return self.layer_text(catalog.MEDIA_TEMPLATE)

    @property
    def system(self) -> str:
        return self.layer_text(catalog.MEDIA_SYSTEM)

    @property
    def license(self) -> str:
        return self.layer_text(catalog.MEDIA_LICENSE)

    @property
    def params(self) -> dict[str, Any]:
        text = self.layer_text(catalog.MEDIA_PARAMS)
        try:
            return json.loads(text) if text else {}
        except ValueError:
            return {}

    @property
    def capabilities(self) -> list[str]:
        """Like Ollama: config capabilities, then embedding/completion from the GGUF, then template features."""
        caps: list[str] = []

        def add(cap: str) -> None:
            if cap not in caps:
                caps.append(cap)

        for cap in self.config.get("capabilities", []) or []:
            add(cap)
        if self.model_blob():
            if self.arch_value("pooling_type") is not None:
                add("embedding")
            else:
                add("completion")
        template = self.template
        if ".Tools" in template:
            add("tools")
        if ".Suffix" in template:
            add("insert")
        if ".Think" in template:
            add("thinking")
        return caps

    @property
    def context_length(self) -> int:
        return int(self.arch_value("context_length", 0) or self.config.get("context_length", 0) or 0)

    @property
    def embedding_length(self) -> int:
        return int(self.arch_value("embedding_length", 0) or self.config.get("embedding_length", 0) or 0)

    @property
    def details(self) -> dict[str, Any]:
        cfg = self.config
        family = cfg.get("model_family") or self.architecture
        quant = cfg.get("file_type") or gguf.FILE_TYPE_NAMES.get(self.kv.get("general.file_type", -1), "")
        param_size = cfg.get("model_type") or human_number(int(self.kv.get("general.parameter_count", 0) or 0))
        details: dict[str, Any] = {
            "parent_model": "",
            "format": cfg.get("model_format", "gguf"),
            "family": family,
            "families": cfg.get("model_families") or ([family] if family else None),
            "parameter_size": param_size,
            "quantization_level": quant,
        }
        return details


def human_number(n: int) -> str:
    if n >= 1_000_000_000:
        return f"{n / 1e9:.1f}B".replace(".0B", "B")
    if n >= 1_000_000:
        return f"{n / 1e6:.2f}M"
    if n >= 1_000:
        return f"{n / 1e3:.2f}K"
    return str(n) if n else ""


def go_time(ts: float | dt.datetime, utc: bool = False) -> str:
    """RFC 3339 with nanosecond digits trimmed, like Go's time.Time JSON ("Z" for a zero offset)."""
    moment = ts if isinstance(ts, dt.datetime) else dt.datetime.fromtimestamp(ts, dt.UTC)
    moment = moment.astimezone(dt.UTC) if utc else moment.astimezone()
    text = moment.isoformat(timespec="microseconds")
    head, _, rest = text.partition(".")
    frac, offset = rest[:6], rest[6:]
    frac = frac.rstrip("0")
    if offset in ("+00:00", "-00:00"):
        offset = "Z"
    return f"{head}{'.' + frac if frac else ''}{offset}"


class Store:
    def __init__(self, root: str):
        self.root = os.path.abspath(root)
        self.lock = threading.RLock()
        os.makedirs(self.manifests_dir, exist_ok=True)
        os.makedirs(self.blobs_dir, exist_ok=True)

    @property
    def manifests_dir(self) -> str:
        return os.path.join(self.root, "manifests")

    @property
    def blobs_dir(self) -> str:
        return os.path.join(self.root, "blobs")

    # -- blobs ------------------------------------------------------------------------------------
    def blob_path(self, digest: str) -> str:
        if not DIGEST_RE.match(digest):
            raise InvalidDigestError()
        return os.path.join(self.blobs_dir, digest.replace(":", "-"))

    def partial_path(self, digest: str) -> str:
        return self.blob_path(digest) + "-partial"

    def has_blob(self, digest: str) -> bool:
        return os.path.isfile(self.blob_path(digest))

    def partial_size(self, digest: str) -> int:
        try:
            return os.path.getsize(self.partial_path(digest))
        except OSError:
            return 0

    def partials(self) -> dict[str, int]:
        out = {}
        for entry in os.listdir(self.blobs_dir):
            if entry.endswith("-partial"):
                out[entry[: -len("-partial")].replace("-", ":", 1)] = os.path.getsize(
                    os.path.join(self.blobs_dir, entry)
                )
        return out

    def verify_blob(self, digest: str) -> bool:
        h = hashlib.sha256()
        with open(self.blob_path(digest), "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return "sha256:" + h.hexdigest() == digest.replace("-", ":", 1).lower()

    def write_blob(self, digest: str, data: bytes) -> None:
        path = self.blob_path(digest)
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)

    # -- manifests --------------------------------------------------------------------------------
    def manifest_path(self, name: names.Name) -> str:
        return os.path.join(self.manifests_dir, name.host, name.namespace, name.model, name.tag)

    def _scan(self) -> list[tuple[names.Name, str]]:
        found = []
        base = self.manifests_dir
        for dirpath, _dirs, files in os.walk(base):
            rel = os.path.relpath(dirpath, base)
            parts = [] if rel == "." else rel.split(os.sep)
            if len(parts) != 3:
                continue
            for tag in files:
                name = names.Name(parts[0], parts[1], parts[2], tag)
                if name.is_valid():
                    found.append((name, os.path.join(dirpath, tag)))
        return found

    def existing_name(self, name: names.Name) -> names.Name:
        """Ollama's getExistingName: adopt the stored spelling of each part that matches case-insensitively."""
        host, namespace, model, tag = name.parts
        for existing, _path in self._scan():
            if existing.host.lower() == host.lower():
                host = existing.host
            if existing.namespace.lower() == namespace.lower():
                namespace = existing.namespace
            if existing.model.lower() == model.lower():
                model = existing.model
            if existing.tag.lower() == tag.lower():
                tag = existing.tag
        return name.with_parts((host, namespace, model, tag))

    def get(self, name: names.Name) -> Installed | None:
        with self.lock:
            for existing, path in self._scan():
                if existing.equal_fold(name):
                    return self._load(existing, path)
        return None

    def _load(self, name: names.Name, path: str) -> Installed | None:
        try:
            with open(path, "rb") as f:
                raw = f.read()
            manifest = json.loads(raw)
            modified = os.path.getmtime(path)
        except (OSError, ValueError):
            return None
        return Installed(name, manifest, hashlib.sha256(raw).hexdigest(), modified, self)

    def list(self) -> list[Installed]:
        with self.lock:
            models = [m for name, path in self._scan() if (m := self._load(name, path)) is not None]
        models.sort(key=lambda m: -int(m.modified))
        return models

    def write_manifest(self, name: names.Name, manifest_bytes: bytes) -> None:
        with self.lock:
            path = self.manifest_path(name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tmp = path + ".tmp"
            with open(tmp, "wb") as f:
                f.write(manifest_bytes)
            os.replace(tmp, path)

    def referenced_digests(self) -> set[str]:
        refs: set[str] = set()
        for model in self.list():
            refs.update(layer["digest"] for layer in model.layers)
            config = model.manifest.get("config") or {}
            if config.get("digest"):
                refs.add(config["digest"])
        return refs

    def remove_unreferenced(self, digests: set[str]) -> None:
        refs = self.referenced_digests()
        for digest in digests - refs:
            with contextlib.suppress(OSError, InvalidDigestError):
                os.remove(self.blob_path(digest))

    def delete(self, model: Installed) -> None:
        with self.lock:
            path = self.manifest_path(model.name)
            os.remove(path)
            # Prune empty directories up to manifests/, like Ollama.
            parent = os.path.dirname(path)
            while parent != self.manifests_dir and os.path.isdir(parent) and not os.listdir(parent):
                os.rmdir(parent)
                parent = os.path.dirname(parent)
            digests = {layer["digest"] for layer in model.layers}
            config = model.manifest.get("config") or {}
            if config.get("digest"):
                digests.add(config["digest"])
            self.remove_unreferenced(digests)

    def wipe(self) -> None:
        with self.lock:
            for model in self.list():
                self.delete(model)
            for entry in os.listdir(self.blobs_dir):
                os.remove(os.path.join(self.blobs_dir, entry))
