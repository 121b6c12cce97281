"""The simulated model registry: which models can be pulled, and the exact bytes of their blobs.

Every blob is generated deterministically from the catalog entry, so digests are real sha256 digests of
real bytes, the same on every machine, and a models directory written by the double looks like one written
by Ollama (``manifests/<host>/<namespace>/<model>/<tag>`` and ``blobs/sha256-<hex>``). Sizes are small on
purpose: progress is simulated, nothing large is transferred.
"""

from __future__ import annotations

import hashlib
import json
import threading
from typing import Any

from . import gguf, names

MEDIA_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MEDIA_CONFIG = "application/vnd.docker.container.image.v1+json"
MEDIA_MODEL = "application/vnd.ollama.image.model"
MEDIA_TEMPLATE = "application/vnd.ollama.image.template"
MEDIA_SYSTEM = "application/vnd.ollama.image.system"
MEDIA_PARAMS = "application/vnd.ollama.image.params"
MEDIA_LICENSE = "application/vnd.ollama.image.license"

KiB = 1024

_ZEPHYR_TEMPLATE = "<|system|>\n{{ .System }}</s>\n<|user|>\n{{ .Prompt }}</s>\n<|assistant|>\n"
_LLAMA3_TEMPLATE = (
    "<|start_header_id|>system<|end_header_id|>\n\n{{ if .System }}{{ .System }}{{ end }}"
    "{{- if .Tools }}When you receive a tool call response, use the output to format an answer."
    "{{ range .Tools }}{{ . }}{{ end }}{{ end }}<|eot_id|>"
    "{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n{{ .Content }}<|eot_id|>{{ end }}"
    "<|start_header_id|>assistant<|end_header_id|>\n\n"
)
_QWEN_TEMPLATE = (
    "{{- if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}"
    "{{- if .Tools }}<tools>{{ range .Tools }}{{ . }}{{ end }}</tools>{{ end }}"
    "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n"
)
_HARMONY_TEMPLATE = (
    "<|start|>system<|message|>Reasoning: {{ if .ThinkLevel }}{{ .ThinkLevel }}{{ else }}medium{{ end }}"
    "{{- if .Think }} (thinking on){{ end }}<|end|>"
    "{{- if .Tools }}<|start|>developer<|message|># Tools{{ range .Tools }}{{ . }}{{ end }}<|end|>{{ end }}"
    "{{- range .Messages }}<|start|>{{ .Role }}<|message|>{{ .Content }}<|end|>{{ end }}<|start|>assistant"
)
_PROMPT_TEMPLATE = "{{ .Prompt }}"

_LICENSES = {
    "apache": "Apache License\nVersion 2.0, January 2004\nhttp://www.apache.org/licenses/\n",
    "mit": "MIT License\n\nPermission is hereby granted, free of charge, to any person obtaining a copy.\n",
    "llama3.2": "LLAMA 3.2 COMMUNITY LICENSE AGREEMENT\nLlama 3.2 Version Release Date: September 25, 2024\n",
    "llama3.1": "LLAMA 3.1 COMMUNITY LICENSE AGREEMENT\nLlama 3.1 Version Release Date: July 23, 2024\n",
}

# The built-in registry. Keys of each entry are documented in README.md ("Catalog entries").
DEFAULT_CATALOG: list[dict[str, Any]] = [
    {
        "name": "tinyllama:latest",
        "aliases": ["tinyllama:1.1b"],
        "family": "llama",
        "parameter_size": "1B",
        "parameter_count": 1_100_048_384,
        "quantization": "Q4_0",
        "context_length": 2048,
        "embedding_length": 2048,
        "model_bytes": 512 * KiB,
        "template": _ZEPHYR_TEMPLATE,
        "system": "You are a helpful AI assistant.",
        "params": {"stop": ["<|system|>", "<|user|>", "<|assistant|>", "</s>"]},
        "license": "apache",
    },
    {
        "name": "llama3.2:1b",
        "family": "llama",
        "parameter_size": "1.2B",
        "parameter_count": 1_235_814_432,
        "quantization": "Q8_0",
        "context_length": 131072,
        "embedding_length": 2048,
        "model_bytes": 768 * KiB,
        "template": _LLAMA3_TEMPLATE,
        "params": {"stop": ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]},
        "license": "llama3.2",
    },
    {
        "name": "llama3.2:latest",
        "aliases": ["llama3.2:3b"],
        "family": "llama",
        "parameter_size": "3.2B",
        "parameter_count": 3_212_749_888,
        "quantization": "Q4_K_M",
        "context_length": 131072,
        "embedding_length": 3072,
        "model_bytes": 1024 * KiB,
        "template": _LLAMA3_TEMPLATE,
        "params": {"stop": ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]},
        "license": "llama3.2",
    },
    {
        "name": "llama3.1:8b",
        "aliases": ["llama3.1:latest"],
        "family": "llama",
        "parameter_size": "8.0B",
        "parameter_count": 8_030_261_248,
        "quantization": "Q4_K_M",
        "context_length": 131072,
        "embedding_length": 4096,
        "model_bytes": 1536 * KiB,
        "template": _LLAMA3_TEMPLATE,
        "params": {"stop": ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]},
        "license": "llama3.1",
    },
    {
        "name": "qwen2.5:0.5b",
        "family": "qwen2",
        "parameter_size": "494.03M",
        "parameter_count": 494_032_768,
        "quantization": "Q4_K_M",
        "context_length": 32768,
        "embedding_length": 896,
        "model_bytes": 384 * KiB,
        "template": _QWEN_TEMPLATE,
        "system": "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.",
        "params": {"stop": ["<|im_start|>", "<|im_end|>"]},
        "license": "apache",
    },
    {
        "name": "qwen2.5:7b",
        "aliases": ["qwen2.5:latest"],
        "family": "qwen2",
        "parameter_size": "7.6B",
        "parameter_count": 7_615_616_512,
        "quantization": "Q4_K_M",
        "context_length": 32768,
        "embedding_length": 3584,
        "model_bytes": 1536 * KiB,
        "template": _QWEN_TEMPLATE,
        "system": "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.",
        "params": {"stop": ["<|im_start|>", "<|im_end|>"]},
        "license": "apache",
    },
    {
        "name": "gpt-oss:20b",
        "aliases": ["gpt-oss:latest"],
        "family": "gptoss",
        "parameter_size": "20.9B",
        "parameter_count": 20_914_757_184,
        "quantization": "MXFP4",
        "context_length": 131072,
        "embedding_length": 2880,
        "model_bytes": 2048 * KiB,
        "template": _HARMONY_TEMPLATE,
        "params": {"temperature": 1.0},
        "license": "apache",
    },
    {
        "name": "gpt-oss:120b",
        "family": "gptoss",
        "parameter_size": "116.8B",
        "parameter_count": 116_829_156_672,
        "quantization": "MXFP4",
        "context_length": 131072,
        "embedding_length": 2880,
        "model_bytes": 4096 * KiB,
        "template": _HARMONY_TEMPLATE,
        "params": {"temperature": 1.0},
        "license": "apache",
    },
    {
        "name": "bge-m3:latest",
        "aliases": ["bge-m3:567m"],
        "family": "bert",
        "parameter_size": "566.70M",
        "parameter_count": 566_703_104,
        "quantization": "F16",
        "context_length": 8192,
        "embedding_length": 1024,
        "embedding": True,
        "model_bytes": 448 * KiB,
        "template": _PROMPT_TEMPLATE,
        "license": "mit",
    },
    {
        "name": "nomic-embed-text:latest",
        "aliases": ["nomic-embed-text:v1.5"],
        "family": "nomic-bert",
        "parameter_size": "137M",
        "parameter_count": 136_727_040,
        "quantization": "F16",
        "context_length": 2048,
        "embedding_length": 768,
        "embedding": True,
        "model_bytes": 256 * KiB,
        "template": _PROMPT_TEMPLATE,
        "license": "apache",
    },
]


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _padding(seed: str, n: int) -> bytes:
    return hashlib.shake_256(seed.encode()).digest(n) if n > 0 else b""


class CatalogModel:
    """One pullable model: its manifest and blobs, generated on first use."""

    def __init__(self, spec: dict[str, Any]):
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise ValueError("a catalog entry needs a string 'name'")
        name = names.parse(spec["name"])
        if not name.is_valid():
            raise ValueError(f"invalid model name in catalog: {spec['name']!r}")
        self.spec = dict(spec)
        self.name = name
        self.aliases = []
        for alias in spec.get("aliases", []):
            alias_name = names.parse(alias)
            if not alias_name.is_valid():
                raise ValueError(f"invalid alias in catalog: {alias!r}")
            self.aliases.append(alias_name)
        self._lock = threading.Lock()
        self._built: tuple[bytes, dict[str, bytes], list[dict[str, Any]]] | None = None

    # -- metadata ---------------------------------------------------------------------------------
    @property
    def family(self) -> str:
        return self.spec.get("family", "llama")

    @property
    def embedding(self) -> bool:
        return bool(self.spec.get("embedding", False))

    def gguf_metadata(self) -> dict[str, Any]:
        arch = self.family
        quant = self.spec.get("quantization", "Q4_0")
        kv: dict[str, Any] = {
            "general.architecture": arch,
            "general.name": self.name.model,
            "general.file_type": gguf.FILE_TYPES.get(quant, 2),
            "general.parameter_count": int(self.spec.get("parameter_count", 1_000_000_000)),
            "general.quantization_version": 2,
            f"{arch}.context_length": int(self.spec.get("context_length", 4096)),
            f"{arch}.embedding_length": int(self.spec.get("embedding_length", 2048)),
            f"{arch}.block_count": int(self.spec.get("block_count", 16)),
        }
        if self.embedding:
            kv[f"{arch}.pooling_type"] = 2
        kv.update(self.spec.get("model_info", {}))
        return kv

    def config(self, layer_digests: list[str]) -> dict[str, Any]:
        cfg: dict[str, Any] = {
            "model_format": self.spec.get("format", "gguf"),
            "model_family": self.family,
            "model_families": self.spec.get("families", [self.family]),
            "model_type": self.spec.get("parameter_size", "1B"),
            "file_type": self.spec.get("quantization", "Q4_0"),
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": layer_digests},
        }
        if self.spec.get("capabilities"):
            cfg["capabilities"] = list(self.spec["capabilities"])
        return cfg

    # -- content ----------------------------------------------------------------------------------
    def _layers(self) -> list[tuple[str, bytes]]:
        seed = f"{self.name.full()}#{self.spec.get('revision', '')}"
        header = gguf.encode_header(self.gguf_metadata())
        model_bytes = max(int(self.spec.get("model_bytes", 256 * KiB)), len(header))
        layers = [(MEDIA_MODEL, header + _padding(seed, model_bytes - len(header)))]
        if self.spec.get("template"):
            layers.append((MEDIA_TEMPLATE, self.spec["template"].encode()))
        if self.spec.get("system"):
            layers.append((MEDIA_SYSTEM, self.spec["system"].encode()))
        if self.spec.get("params"):
            layers.append((MEDIA_PARAMS, json.dumps(self.spec["params"]).encode()))
        license_text = self.spec.get("license")
        if license_text:
            layers.append((MEDIA_LICENSE, _LICENSES.get(license_text, license_text).encode()))
        for extra in self.spec.get("extra_layers", []):
            size = int(extra.get("size", 1024))
            layers.append((extra.get("media_type", MEDIA_MODEL), _padding(f"{seed}/{extra}", size)))
        return layers

    def build(self) -> tuple[bytes, dict[str, bytes], list[dict[str, Any]]]:
        """(manifest bytes, blobs by digest, layer descriptors in pull order: layers then config)."""
        with self._lock:
            if self._built is None:
                blobs: dict[str, bytes] = {}
                descriptors = []
                for media_type, data in self._layers():
                    digest = _digest(data)
                    blobs[digest] = data
                    descriptors.append({"mediaType": media_type, "digest": digest, "size": len(data)})
                config_bytes = json.dumps(self.config([d["digest"] for d in descriptors])).encode()
                config_digest = _digest(config_bytes)
                blobs[config_digest] = config_bytes
                config_desc = {"mediaType": MEDIA_CONFIG, "digest": config_digest, "size": len(config_bytes)}
                manifest = {
                    "schemaVersion": 2,
                    "mediaType": MEDIA_MANIFEST,
                    "config": config_desc,
                    "layers": descriptors,
                }
                manifest_bytes = json.dumps(manifest).encode()
                self._built = (manifest_bytes, blobs, [*descriptors, config_desc])
            return self._built

    def describe(self) -> dict[str, Any]:
        manifest_bytes, _, layers = self.build()
        return {
            "name": self.name.display(),
            "aliases": [alias.display() for alias in self.aliases],
            "digest": hashlib.sha256(manifest_bytes).hexdigest(),
            "size": sum(layer["size"] for layer in layers),
            "embedding": self.embedding,
            "family": self.family,
            "parameter_size": self.spec.get("parameter_size", "1B"),
            "quantization": self.spec.get("quantization", "Q4_0"),
            "layers": [
                {"digest": layer["digest"], "size": layer["size"], "media_type": layer["mediaType"]} for layer in layers
            ],
        }


class Catalog:
    """Pullable models keyed by case-folded full name (aliases included)."""

    def __init__(self, specs: list[dict[str, Any]] | None = None):
        self._lock = threading.Lock()
        self._models: dict[tuple[str, str, str, str], CatalogModel] = {}
        for spec in DEFAULT_CATALOG if specs is None else specs:
            self.add(spec)

    def add(self, spec: dict[str, Any]) -> CatalogModel:
        entry = CatalogModel(spec)
        with self._lock:
            for name in (entry.name, *entry.aliases):
                self._models[name.key()] = entry
        return entry

    def remove(self, name: str) -> bool:
        key = names.parse(name).key()
        with self._lock:
            return self._models.pop(key, None) is not None

    def get(self, name: names.Name) -> CatalogModel | None:
        with self._lock:
            return self._models.get(name.key())

    def entries(self) -> list[tuple[str, CatalogModel]]:
        with self._lock:
            items = list(self._models.items())
        return [(names.Name(*key).display(), entry) for key, entry in items]

    def load_file(self, path: str) -> int:
        """Add the entries of a JSON file: a list of entries, or {"models": [...]}."""
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        entries = data.get("models", []) if isinstance(data, dict) else data
        for spec in entries:
            self.add(spec)
        return len(entries)
