"""The /_double/ control API: what tests use to inspect and steer the double (documented in README.md)."""

from __future__ import annotations

import time
from typing import Any

from . import api, durations, names
from .state import State, gpu_fraction

FAULT_KINDS = {
    "pull-drop": "pull_drop",
    "pull-error": "pull_error",
    "api": "api",
    "registry-offline": "registry_offline",
}


def _ok(extra: dict[str, Any] | None = None) -> api.Reply:
    return api.Reply(200, {"ok": True, **(extra or {})})


def snapshot(state: State) -> dict[str, Any]:
    state.expire()
    with state.lock:
        return {
            "version": state.settings.version,
            "models_dir": state.store.root,
            "gpu": state.settings.gpu,
            "gpus": state.settings.gpus,
            "pull_delay": state.settings.pull_delay,
            "chunk_size": state.settings.chunk_size,
            "token_delay": state.settings.token_delay,
            "answer_tokens": state.settings.answer_tokens,
            "keep_alive": None if state.settings.keep_alive == durations.FOREVER else state.settings.keep_alive,
            "max_loaded_models": state.settings.max_loaded_models,
            "context_length": state.settings.context_length,
            "faults": dict(state.faults),
            "installed": [m.name.display() for m in state.store.list()],
            "loaded": sorted(v.display for v in state.loaded.values()),
            "partials": state.store.partials(),
            "counters": state.counters,
            "requests_logged": len(state.requests),
        }


def handle(state: State, method: str, path: str, body: dict[str, Any], query: dict[str, list[str]]) -> api.Reply:
    parts = [p for p in path.split("/") if p][1:]  # drop "_double"
    head = parts[0] if parts else ""
    try:
        if head in ("", "state") and method == "GET":
            return api.Reply(200, snapshot(state))
        if head == "requests":
            return _requests(state, method, parts, query)
        if head == "counters":
            if method == "GET":
                with state.lock:
                    return api.Reply(200, state.counters)
            if method in ("DELETE", "POST"):
                with state.lock:
                    state.counters = state._new_counters()
                return _ok()
        if head in {"fault", "faults"}:
            return _faults(state, method, parts[1:], body)
        if head == "gpu" and method == "POST":
            state.settings.gpu = gpu_fraction(body.get("gpu", True))
            return _ok({"gpu": state.settings.gpu})
        if head == "config" and method == "POST":
            return _config(state, body)
        if head == "catalog":
            return _catalog(state, method, body)
        if head == "install" and method == "POST":
            return _install(state, body)
        if head == "reset" and method == "POST":
            state.reset(wipe_models=bool(body.get("models", False)), reset_catalog=bool(body.get("catalog", True)))
            return _ok()
    except (ValueError, TypeError, KeyError) as exc:
        return api.error(400, f"bad control request: {exc}")
    return api.error(404, f"no control endpoint {method} {path}")


def _requests(state: State, method: str, parts: list[str], query: dict[str, list[str]]) -> api.Reply:
    if method == "DELETE" or (method == "POST" and parts[1:2] == ["clear"]):
        with state.lock:
            state.requests.clear()
        return _ok()
    if method != "GET":
        return api.error(405, "405 method not allowed")
    prefix = (query.get("path") or [""])[0]
    method_filter = (query.get("method") or [""])[0].upper()
    with state.lock:
        entries = [
            dict(e)
            for e in state.requests
            if e["path"].startswith(prefix) and (not method_filter or e["method"] == method_filter)
        ]
    return api.Reply(200, {"requests": entries})


def _faults(state: State, method: str, parts: list[str], body: dict[str, Any]) -> api.Reply:
    if method == "GET":
        with state.lock:
            return api.Reply(200, {"faults": dict(state.faults)})
    if method == "DELETE":
        with state.lock:
            if parts:
                state.faults.pop(FAULT_KINDS.get(parts[0], parts[0]), None)
            else:
                state.faults.clear()
        return _ok()
    if method != "POST" or not parts or parts[0] not in FAULT_KINDS:
        return api.error(404, f"fault kinds: {', '.join(sorted(FAULT_KINDS))}")
    kind = FAULT_KINDS[parts[0]]
    if kind == "pull_drop":
        fault = {"after_bytes": int(body.get("after_bytes", 0)), "times": body.get("times", 1)}
    elif kind == "pull_error":
        fault = {
            "error": str(body.get("error") or "simulated pull failure"),
            "after_bytes": int(body.get("after_bytes", 0)),
            "status": int(body.get("status", 500)),
            "times": body.get("times", 1),
        }
    elif kind == "registry_offline":
        with state.lock:
            if body.get("offline", True):
                state.faults["registry_offline"] = True
            else:
                state.faults.pop("registry_offline", None)
        return _ok()
    else:
        mode = str(body.get("mode", "500"))
        seconds = body.get("seconds")
        if mode == "refuse":
            if state.runner is None:
                return api.error(400, "refuse needs a runner")
            state.runner.request_outage(float(seconds if seconds is not None else 5.0))
            return _ok({"refusing_for": float(seconds if seconds is not None else 5.0)})
        if not (mode.isdigit() or mode in ("reset", "delay")):
            return api.error(400, "mode must be an HTTP status (e.g. 500, 503), reset, refuse or delay")
        fault = {"mode": mode, "message": body.get("message"), "delay": float(body.get("delay", 1.0))}
        if seconds is not None:
            fault["until"] = time.time() + float(seconds)
    if body.get("model"):
        fault["model"] = names.parse(str(body["model"])).display()
    with state.lock:
        state.faults[kind] = fault
    return _ok({"fault": fault})


def _config(state: State, body: dict[str, Any]) -> api.Reply:
    s = state.settings
    for key in ("pull_delay", "token_delay"):
        if key in body:
            setattr(s, key, float(body[key]))
    for key in ("chunk_size", "max_loaded_models", "context_length", "answer_tokens"):
        if key in body:
            setattr(s, key, int(body[key]))
    if "version" in body:
        s.version = str(body["version"])
    if "gpu" in body:
        s.gpu = gpu_fraction(body["gpu"])
    if "keep_alive" in body:
        s.keep_alive = durations.parse_keep_alive(body["keep_alive"])
    return _ok()


def _catalog(state: State, method: str, body: dict[str, Any]) -> api.Reply:
    if method == "GET":
        return api.Reply(200, {"models": {name: entry.describe() for name, entry in state.catalog.entries()}})
    if method == "POST":
        specs = body["models"] if isinstance(body.get("models"), list) else [body]
        added = [state.catalog.add(spec).describe() for spec in specs]
        return _ok({"added": added})
    if method == "DELETE":
        return _ok({"removed": state.catalog.remove(str(body["name"]))})
    return api.error(405, "405 method not allowed")


def _install(state: State, body: dict[str, Any]) -> api.Reply:
    """Put a catalog model in place instantly, as if pulled earlier (no registry bytes are counted)."""
    name = names.parse(str(body.get("model") or body.get("name") or ""))
    entry = state.catalog.get(name) if name.is_valid() else None
    if entry is None:
        return api.error(404, f"model '{body.get('model')}' is not in the catalog")
    manifest_bytes, blobs, _layers = entry.build()
    for digest, data in blobs.items():
        if not state.store.has_blob(digest):
            state.store.write_blob(digest, data)
    state.store.write_manifest(state.store.existing_name(name), manifest_bytes)
    return _ok({"installed": name.display()})
