"""Ollama's REST API (/api/*), answering like Ollama's server/routes.go does.

Handlers take the parsed request and return a Reply; server.py turns replies into HTTP. Statuses and
error texts follow Ollama; see README.md for what is simulated and what is left out.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from . import catalog, durations, gguf, names, store
from .state import State, expiry_text

NDJSON = "application/x-ndjson"


# -- replies ---------------------------------------------------------------------------------------
@dataclass
class Reply:
    status: int = 200
    body: Any = None  # JSON-able object, bytes, or None (empty body)
    content_type: str = "application/json; charset=utf-8"
    trailing_newline: bool = False  # Go's json.Encoder ends its output with one; gin's c.JSON does not


@dataclass
class Stream:
    """Events for a streamed answer: dicts are NDJSON lines, an ApiError ends the stream.

    With ``stream=False`` the server answers like Ollama's waitForStream: the last event as one JSON
    object, or the error with its status.
    """

    events: Iterator[Any]
    stream: bool = True
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class ApiError:
    status: int
    message: str


class DropConnection(Exception):
    """Abort the client connection at once (an injected network drop)."""


def error(status: int, message: str) -> Reply:
    return Reply(status, {"error": message})


class BadRequest(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status
        self.message = message


def go_quote(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def now_utc() -> str:
    return store.go_time(time.time(), utc=True)


def want_stream(body: dict[str, Any]) -> bool:
    return body.get("stream") is not False


def keep_alive_of(body: dict[str, Any]) -> float | None:
    if "keep_alive" not in body or body["keep_alive"] is None:
        return None
    try:
        return durations.parse_keep_alive(body["keep_alive"])
    except durations.DurationError as exc:
        raise BadRequest(str(exc)) from exc


def _str_field(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadRequest(f"json: cannot unmarshal {_json_kind(value)} into Go struct field .{key} of type string")
    return value


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "string"


# -- simple endpoints ------------------------------------------------------------------------------
def version(state: State) -> Reply:
    return Reply(200, {"version": state.settings.version})


def details_of(model: store.Installed, with_lengths: bool = False) -> dict[str, Any]:
    details = model.details
    if with_lengths:
        if model.context_length:
            details["context_length"] = model.context_length
        if model.embedding_length:
            details["embedding_length"] = model.embedding_length
    return details


def tags(state: State) -> Reply:
    models = []
    for m in state.store.list():
        entry: dict[str, Any] = {
            "name": m.name.display(),
            "model": m.name.display(),
            "modified_at": store.go_time(m.modified),
            "size": m.size,
            "digest": m.digest,
            "details": details_of(m, with_lengths=True),
        }
        if m.capabilities:
            entry["capabilities"] = m.capabilities
        models.append(entry)
    return Reply(200, {"models": models})


def ps(state: State) -> Reply:
    state.expire()
    with state.lock:
        loaded = sorted(state.loaded.values(), key=lambda v: -v.expires_at)
        models = [
            {
                "name": v.display,
                "model": v.display,
                "size": v.size,
                "digest": v.model.digest,
                "details": details_of(v.model),
                "expires_at": expiry_text(v.expires_at),
                "size_vram": v.size_vram,
                "context_length": v.context_length,
            }
            for v in loaded
        ]
    return Reply(200, {"models": models})


def _installed(state: State, raw: str) -> tuple[names.Name, store.Installed | None]:
    name = names.parse_ref(raw)
    if not name.is_valid():
        raise BadRequest("invalid model name")
    return name, state.store.get(name)


def show(state: State, body: dict[str, Any]) -> Reply:
    raw = _str_field(body, "model") or _str_field(body, "name")
    if not raw:
        return error(400, "model is required")
    try:
        name, model = _installed(state, raw)
    except names.ModelRequiredError:
        return error(400, "model is required")
    if model is None:
        return error(404, f"model '{state.store.existing_name(name).display()}' not found")
    params = model.params
    param_lines = []
    for key in sorted(params):
        values = params[key] if isinstance(params[key], list) else [params[key]]
        for value in values:
            param_lines.append(f"{key:<30} {go_quote(value) if isinstance(value, str) else json.dumps(value)}")
    model_blob = model.model_blob() or ""
    modelfile = [
        '# Modelfile generated by "ollama show"',
        "# To build a new Modelfile based on this, replace FROM with:",
        f"# FROM {model.name.display()}",
        "",
        f"FROM {model_blob}",
    ]
    if model.template:
        modelfile.append(f'TEMPLATE """{model.template}"""')
    if model.system:
        modelfile.append(f'SYSTEM """{model.system}"""')
    for key in sorted(params):
        values = params[key] if isinstance(params[key], list) else [params[key]]
        modelfile.extend(f"PARAMETER {key} {value}" for value in values)
    if model.license:
        modelfile.append(f'LICENSE """{model.license}"""')
    model_info = {k: v for k, v in model.kv.items() if not isinstance(v, list)}
    if body.get("verbose"):
        model_info = dict(model.kv)
    out: dict[str, Any] = {}
    if model.license:
        out["license"] = model.license
    out["modelfile"] = "\n".join(modelfile) + "\n"
    if param_lines:
        out["parameters"] = "\n".join(param_lines)
    if model.template:
        out["template"] = model.template
    if model.system:
        out["system"] = model.system
    out["details"] = details_of(model)
    out["model_info"] = model_info
    if model.capabilities:
        out["capabilities"] = model.capabilities
    out["modified_at"] = store.go_time(model.modified)
    return Reply(200, out)


def delete(state: State, body: dict[str, Any]) -> Reply:
    raw = _str_field(body, "model") or _str_field(body, "name")
    try:
        name = names.parse_ref(raw)
    except names.ModelRequiredError:
        return error(400, "model is required")
    if not name.is_valid():
        return error(400, f"name {go_quote(raw)} is invalid")
    model = state.store.get(name)
    if model is None:
        return error(404, f"model '{raw}' not found")
    state.store.delete(model)
    return Reply(200, None)


def copy_model(state: State, body: dict[str, Any]) -> Reply:
    src_raw, dst_raw = _str_field(body, "source"), _str_field(body, "destination")
    src, dst = names.parse(src_raw), names.parse(dst_raw)
    if not src.is_valid():
        return error(400, f"source {go_quote(src_raw)} is invalid")
    if not dst.is_valid():
        return error(400, f"destination {go_quote(dst_raw)} is invalid")
    model = state.store.get(src)
    if model is None:
        return error(404, f"model {go_quote(src_raw)} not found")
    state.store.write_manifest(state.store.existing_name(dst), json.dumps(model.manifest).encode())
    return Reply(200, None)


# -- pull ------------------------------------------------------------------------------------------
def _progress(digest: str, total: int, completed: int) -> dict[str, Any]:
    event: dict[str, Any] = {"status": f"pulling {digest[7:19]}", "digest": digest}
    if total:
        event["total"] = total
    if completed:
        event["completed"] = completed
    return event


def pull(state: State, body: dict[str, Any]) -> Reply | Stream:
    raw = _str_field(body, "model") or _str_field(body, "name")
    try:
        name = names.parse_ref(raw)
    except names.ModelRequiredError:
        return error(400, "invalid model name")
    if not name.is_valid():
        return error(400, "invalid model name")
    name = state.store.existing_name(name)
    display = name.display()
    state.count("pull_requests")
    state.count("pull_requests_by_model", display)
    return Stream(_pull_events(state, name, bool(body.get("insecure"))), stream=want_stream(body))


def _pull_events(state: State, name: names.Name, insecure: bool) -> Iterator[Any]:
    display = name.display()
    if name.scheme == "http" and not insecure:
        yield ApiError(500, "insecure protocol http")
        return
    drop = state.take_fault("pull_drop", display)
    fail = state.take_fault("pull_error", display)
    yield {"status": "pulling manifest"}
    state.count("registry_manifest_requests", display)
    if state.faults.get("registry_offline"):
        host = name.host.split(":")[0]
        url = f"{name.scheme}://{name.host}/v2/{name.namespace_model()}/manifests/{name.tag}"
        yield ApiError(500, f'pull model manifest: Get "{url}": dial tcp: lookup {host}: no such host')
        return
    entry = state.catalog.get(name)
    if entry is None:
        yield ApiError(500, "pull model manifest: file does not exist")
        return
    if fail and not fail.get("after_bytes"):
        yield ApiError(int(fail.get("status", 500)), fail["error"])
        return
    drop_after = int(drop.get("after_bytes") or 0) if drop else None
    fail_after = int(fail["after_bytes"]) if fail else None
    manifest_bytes, blobs, layers = entry.build()
    existing = state.store.get(name)
    old_digests: set[str] = set()
    if existing is not None:
        old_digests = {layer["digest"] for layer in existing.layers}
        if existing.manifest.get("config", {}).get("digest"):
            old_digests.add(existing.manifest["config"]["digest"])
    pulled = 0  # registry bytes fetched by this request
    downloaded: list[str] = []
    for layer in layers:
        digest, total = layer["digest"], int(layer["size"])
        with state.blob_lock(digest):
            if state.store.has_blob(digest):
                yield _progress(digest, total, total)
                continue
            partial = state.store.partial_path(digest)
            done = state.store.partial_size(digest)
            if done > total:
                os.remove(partial)
                done = 0
            yield _progress(digest, total, done)
            data = blobs[digest]
            with open(partial, "ab") as f:
                while done < total:
                    if drop_after is not None and pulled >= drop_after:
                        f.flush()
                        raise DropConnection()
                    if fail_after is not None and pulled >= fail_after:
                        f.flush()
                        yield ApiError(int(fail.get("status", 500)), fail["error"])
                        return
                    n = min(max(state.settings.chunk_size, 1), total - done)
                    for threshold in (drop_after, fail_after):
                        if threshold is not None and pulled < threshold:
                            n = min(n, threshold - pulled)
                    f.write(data[done : done + n])
                    f.flush()
                    done += n
                    pulled += n
                    state.add_registry_bytes(display, n)
                    if state.settings.pull_delay:
                        time.sleep(state.settings.pull_delay)
                    yield _progress(digest, total, done)
            os.replace(partial, state.store.blob_path(digest))
            downloaded.append(digest)
    yield {"status": "verifying sha256 digest"}
    for digest in downloaded:
        if not state.store.verify_blob(digest):
            os.remove(state.store.blob_path(digest))
            yield ApiError(500, "digest mismatch, file must be downloaded again")
            return
    yield {"status": "writing manifest"}
    state.store.write_manifest(name, manifest_bytes)
    unused = old_digests - {layer["digest"] for layer in layers}
    if unused:
        yield {"status": "removing unused layers"}
        state.store.remove_unreferenced(unused)
    yield {"status": "success"}


# -- inference -------------------------------------------------------------------------------------
def _words(text: str) -> list[str]:
    return text.split()


def _tokens(text: str) -> list[str]:
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


def _num_predict(body: dict[str, Any]) -> int:
    options = body.get("options") if isinstance(body.get("options"), dict) else {}
    value = options.get("num_predict")
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else -1


def _long_answer(tokens: list[str], answer_tokens: int) -> list[str]:
    """The reply, run on with numbered words up to answer_tokens tokens (a long answer, one token per chunk)."""
    return tokens + [f" word{i}" for i in range(len(tokens), answer_tokens)]


def reply_text(model_display: str, prompt: str, fmt: Any) -> str:
    said = " ".join(_words(prompt)[:16]) or "nothing"
    text = f"Hello from {model_display} (Ollama double). You said: {said}"
    if fmt == "json" or isinstance(fmt, dict):
        return json.dumps({"model": model_display, "reply": text})
    return text


def thinking_text(prompt: str) -> str:
    return f"The user wrote {len(_words(prompt))} words. I will answer briefly."


def _think_wanted(body: dict[str, Any], caps: list[str]) -> tuple[bool, str | None]:
    """(think, error) following Ollama: thinking models think by default; others reject think=true."""
    think = body.get("think")
    if "thinking" in caps:
        return think is not False, None
    if think is True or (isinstance(think, str) and think not in ("", "false")):
        return False, "does not support thinking"
    return False, None


def _resolve_for_inference(state: State, body: dict[str, Any], not_found_status: int = 404) -> store.Installed:
    raw = _str_field(body, "model")
    try:
        name = names.parse_ref(raw)
    except names.ModelRequiredError as exc:
        raise BadRequest("model is required") from exc
    if not name.is_valid():
        raise BadRequest("invalid model name")
    model = state.store.get(name)
    if model is None:
        raise BadRequest(f"model '{raw}' not found", not_found_status)
    return model


def _metrics(start: float, prompt_tokens: int, eval_tokens: int, load_seconds: float) -> dict[str, Any]:
    total = max(int((time.time() - start) * 1e9), 1)
    return {
        "total_duration": total,
        "load_duration": max(int(load_seconds * 1e9), 1),
        "prompt_eval_count": prompt_tokens,
        "prompt_eval_duration": prompt_tokens * 250_000 + 1,
        "eval_count": eval_tokens,
        "eval_duration": eval_tokens * 2_000_000 + 1,
    }


def chat(state: State, body: dict[str, Any]) -> Reply | Stream:
    return _inference(state, body, chat=True)


def generate(state: State, body: dict[str, Any]) -> Reply | Stream:
    return _inference(state, body, chat=False)


def _inference(state: State, body: dict[str, Any], chat: bool) -> Reply | Stream:
    start = time.time()
    state.count("chat_requests" if chat else "generate_requests")
    keep_alive = keep_alive_of(body)
    req_model = _str_field(body, "model")
    model = _resolve_for_inference(state, body)
    messages = body.get("messages") or [] if chat else []
    prompt = _str_field(body, "prompt") if not chat else ""
    if not isinstance(messages, list):
        raise BadRequest("json: cannot unmarshal into Go struct field ChatRequest.messages of type []api.Message")
    empty = not messages if chat else prompt == ""
    if empty and keep_alive == 0:
        state.unload(model)
        out: dict[str, Any] = {"model": req_model, "created_at": now_utc()}
        if chat:
            out["message"] = {"role": "assistant", "content": ""}
        else:
            out["response"] = ""
        out.update({"done": True, "done_reason": "unload"})
        return Reply(200, out)
    caps = model.capabilities
    think, think_error = _think_wanted(body, caps)
    if think_error:
        return error(400, f"{go_quote(req_model)} {think_error}")
    if "completion" not in caps:
        return error(400, f"{go_quote(req_model)} does not support {'chat' if chat else 'generate'}")
    if chat and body.get("tools") and "tools" not in caps:
        return error(400, f"{model.name.full()} does not support tools")
    if not chat and body.get("suffix") and "insert" not in caps:
        return error(400, f"{model.name.full()} does not support insert")
    was_loaded = model.name.key() in state.loaded
    loaded = state.load(model, keep_alive, body.get("options"))
    load_seconds = 0.0 if was_loaded else 0.001
    if empty:
        state.finish_use(loaded)
        out = {"model": req_model, "created_at": now_utc()}
        if chat:
            out["message"] = {"role": "assistant", "content": ""}
        else:
            out["response"] = ""
        out.update({"done": True, "done_reason": "load"})
        return Reply(200, out)

    if chat:
        contents = [str(m.get("content") or "") for m in messages if isinstance(m, dict)]
        users = [str(m.get("content") or "") for m in messages if isinstance(m, dict) and m.get("role") == "user"]
        prompt_text = users[-1] if users else (contents[-1] if contents else "")
        prompt_tokens = sum(len(_words(c)) + 4 for c in contents) + len(_words(model.system))
    else:
        prompt_text = prompt
        prompt_tokens = len(_words(prompt)) + len(_words(_str_field(body, "system") or model.system)) + 4
    # A structured (format) reply stays the short JSON document: padding would make it invalid JSON.
    content_tokens = _long_answer(
        _tokens(reply_text(loaded.display, prompt_text, body.get("format"))),
        0 if body.get("format") else state.settings.answer_tokens,
    )
    thinking_tokens = _tokens(thinking_text(prompt_text)) if think else []
    limit = _num_predict(body)
    done_reason = "stop"
    if limit >= 0 and len(thinking_tokens) + len(content_tokens) > limit:
        keep_thinking = min(len(thinking_tokens), limit)
        thinking_tokens = thinking_tokens[:keep_thinking]
        content_tokens = content_tokens[: limit - keep_thinking]
        done_reason = "length"
    eval_count = len(thinking_tokens) + len(content_tokens)
    context = [(int(hashlib.sha256(t.encode()).hexdigest()[:6], 16) % 32000) for t in _words(prompt_text)]

    def final() -> dict[str, Any]:
        out = {"model": req_model, "created_at": now_utc()}
        if chat:
            out["message"] = {"role": "assistant", "content": ""}
        else:
            out["response"] = ""
        out.update({"done": True, "done_reason": done_reason})
        if not chat and not body.get("raw"):
            out["context"] = context
        out.update(_metrics(start, prompt_tokens, eval_count, load_seconds))
        return out

    if body.get("stream") is False:
        state.finish_use(loaded)
        out = final()
        content, thoughts = "".join(content_tokens), "".join(thinking_tokens)
        if chat:
            out["message"] = {"role": "assistant", "content": content}
            if thoughts:
                out["message"]["thinking"] = thoughts
        else:
            out["response"] = content
            if thoughts:
                out["thinking"] = thoughts
        return Reply(200, out)

    def events() -> Iterator[Any]:
        try:
            for kind, token in [("thinking", t) for t in thinking_tokens] + [("content", t) for t in content_tokens]:
                out: dict[str, Any] = {"model": req_model, "created_at": now_utc()}
                if chat:
                    msg = {"role": "assistant", "content": token if kind == "content" else ""}
                    if kind == "thinking":
                        msg["thinking"] = token
                    out["message"] = msg
                else:
                    out["response"] = token if kind == "content" else ""
                    if kind == "thinking":
                        out["thinking"] = token
                out["done"] = False
                yield out
                if state.settings.token_delay:
                    time.sleep(state.settings.token_delay)
            yield final()
        finally:
            state.finish_use(loaded)

    return Stream(events(), stream=True)


def _vector(seed: str, dims: int) -> list[float]:
    raw = hashlib.shake_256(seed.encode()).digest(dims * 2)
    values = [int.from_bytes(raw[2 * i : 2 * i + 2], "little") / 32767.5 - 1.0 for i in range(dims)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [float(f"{v / norm:.7g}") for v in values]


def _normalise(values: list[float]) -> list[float]:
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [float(f"{v / norm:.7g}") for v in values]


def embed(state: State, body: dict[str, Any]) -> Reply:
    start = time.time()
    state.count("embed_requests")
    keep_alive = keep_alive_of(body)
    req_model = _str_field(body, "model")
    try:
        name = names.parse_ref(req_model)
    except names.ModelRequiredError:
        return error(404, f"model '{req_model}' not found")
    if not name.is_valid():
        return error(400, "invalid model name")
    raw_input = body.get("input")
    if isinstance(raw_input, str):
        inputs = [raw_input] if raw_input else []
    elif isinstance(raw_input, list):
        if not all(isinstance(v, str) for v in raw_input):
            return error(400, "invalid input type")
        inputs = list(raw_input)
    elif raw_input is None:
        inputs = []
    else:
        return error(400, "invalid input type")
    model = state.store.get(name)
    if model is None:
        return error(404, f"model '{req_model}' not found")
    was_loaded = model.name.key() in state.loaded
    loaded = state.load(model, keep_alive, body.get("options"))
    try:
        if not inputs:
            return Reply(200, {"model": req_model, "embeddings": []})
        dims = model.embedding_length or 768
        vectors = [_vector(f"{model.digest}\0{text}", dims) for text in inputs]
        wanted = body.get("dimensions")
        if isinstance(wanted, int) and not isinstance(wanted, bool) and 0 < wanted < dims:
            vectors = [_normalise(v[:wanted]) for v in vectors]
        tokens = sum(len(_words(text)) + 2 for text in inputs)
        return Reply(
            200,
            {
                "model": req_model,
                "embeddings": vectors,
                "total_duration": max(int((time.time() - start) * 1e9), 1),
                "load_duration": 1 if was_loaded else 1_000_000,
                "prompt_eval_count": tokens,
            },
        )
    finally:
        state.finish_use(loaded)


def embeddings(state: State, body: dict[str, Any]) -> Reply:
    """The legacy single-prompt endpoint."""
    state.count("embed_requests")
    keep_alive = keep_alive_of(body)
    req_model = _str_field(body, "model")
    try:
        name = names.parse_ref(req_model)
    except names.ModelRequiredError:
        return error(400, "model is required")
    if not name.is_valid():
        return error(400, "invalid model name")
    model = state.store.get(name)
    if model is None:
        return error(404, f"model {go_quote(req_model)} not found, try pulling it first")
    loaded = state.load(model, keep_alive, body.get("options"))
    try:
        prompt = _str_field(body, "prompt")
        if not prompt:
            return Reply(200, {"embedding": []})
        return Reply(200, {"embedding": _vector(f"{model.digest}\0{prompt}", model.embedding_length or 768)})
    finally:
        state.finish_use(loaded)


# -- blobs and create ------------------------------------------------------------------------------
def head_blob(state: State, digest: str) -> Reply:
    try:
        path = state.store.blob_path(digest)
    except store.InvalidDigestError as exc:
        return error(400, str(exc))
    if not os.path.isfile(path):
        return error(404, f"blob {go_quote(digest)} not found")
    return Reply(200, None)


def create_blob(state: State, digest: str, chunks: Iterator[bytes]) -> Reply:
    """Store an uploaded blob; the body is consumed in every case so the connection stays usable."""
    try:
        path = state.store.blob_path(digest)
    except store.InvalidDigestError as exc:
        for _ in chunks:
            pass
        return error(400, str(exc))
    if os.path.isfile(path):
        for _ in chunks:
            pass
        return Reply(200, None)
    h = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(dir=state.store.blobs_dir, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                h.update(chunk)
                f.write(chunk)
        actual = "sha256:" + h.hexdigest()
        if actual != digest:
            return error(400, f"digest mismatch, expected {go_quote(digest)}, got {go_quote(actual)}")
        os.replace(tmp, path)
        return Reply(201, None)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _valid_rel_path(p: str) -> bool:
    if not p or p.startswith("/") or p.endswith("/"):
        return False
    return all(part not in ("", ".", "..") for part in p.split("/")) or p == "."


def create(state: State, body: dict[str, Any]) -> Reply | Stream:
    files = body.get("files") or {}
    if not isinstance(files, dict):
        return error(400, "json: cannot unmarshal into Go struct field CreateRequest.files of type map[string]string")
    for path, digest in files.items():
        if not _valid_rel_path(path):
            return error(400, "file path must be relative")
        if not digest:
            return error(400, "invalid digest format")
    raw = _str_field(body, "model") or _str_field(body, "name")
    name = names.parse(raw)
    if not name.is_valid():
        return error(400, "invalid model name")
    name = state.store.existing_name(name)
    return Stream(_create_events(state, name, body, files), stream=want_stream(body))


def _create_events(state: State, name: names.Name, body: dict[str, Any], files: dict[str, str]) -> Iterator[Any]:
    old = state.store.get(name)
    layers: list[dict[str, Any]] = []
    kv: dict[str, Any] = {}
    base_config: dict[str, Any] = {}
    if body.get("from"):
        try:
            base = state.store.get(names.parse_ref(str(body["from"])))
        except names.ModelRequiredError:
            base = None
        if base is None:
            yield ApiError(500, "pull model manifest: file does not exist")
            return
        layers = [dict(layer) for layer in base.layers]
        kv, base_config = base.kv, base.config
    elif files:
        for path in sorted(files):
            digest = files[path]
            try:
                blob = state.store.blob_path(digest)
            except store.InvalidDigestError:
                yield ApiError(400, "invalid digest format")
                return
            if not path.endswith(".gguf"):
                try:
                    with open(blob, "rb") as f:
                        is_gguf = f.read(4) == gguf.MAGIC
                except OSError:
                    is_gguf = False
                if not is_gguf:
                    yield ApiError(400, "unknown type")
                    return
            yield {"status": "parsing GGUF"}
            try:
                with open(blob, "rb") as f:
                    kv = gguf.read_metadata(f)
            except FileNotFoundError:
                yield ApiError(500, f"open {blob}: no such file or directory")
                return
            except gguf.NotGGUFError:
                yield ApiError(400, "supplied file was not in GGUF format")
                return
            layers.append({"mediaType": catalog.MEDIA_MODEL, "digest": digest, "size": os.path.getsize(blob)})
    else:
        yield ApiError(400, "neither 'from' or 'files' was specified")
        return

    def text_layer(media_type: str, text: str) -> None:
        data = text.encode()
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if not state.store.has_blob(digest):
            state.store.write_blob(digest, data)
        layers[:] = [layer for layer in layers if layer["mediaType"] != media_type]
        layers.append({"mediaType": media_type, "digest": digest, "size": len(data)})

    if isinstance(body.get("template"), str):
        text_layer(catalog.MEDIA_TEMPLATE, body["template"])
    if isinstance(body.get("system"), str):
        text_layer(catalog.MEDIA_SYSTEM, body["system"])
    if isinstance(body.get("parameters"), dict) and body["parameters"]:
        text_layer(catalog.MEDIA_PARAMS, json.dumps(body["parameters"]))
    license_value = body.get("license")
    if isinstance(license_value, list):
        license_value = "\n".join(str(x) for x in license_value)
    if isinstance(license_value, str) and license_value:
        text_layer(catalog.MEDIA_LICENSE, license_value)
    for layer in layers:
        yield {"status": f"using existing layer {layer['digest']}"}

    arch = str(kv.get("general.architecture", "")) or base_config.get("model_family", "")
    config: dict[str, Any] = {
        "model_format": "gguf",
        "model_family": arch,
        "model_families": [arch] if arch else [],
        "model_type": base_config.get("model_type")
        or store.human_number(int(kv.get("general.parameter_count", 0) or 0)),
        "file_type": base_config.get("file_type") or gguf.FILE_TYPE_NAMES.get(kv.get("general.file_type", -1), ""),
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layer["digest"] for layer in layers]},
    }
    info = body.get("info") if isinstance(body.get("info"), dict) else {}
    if isinstance(info.get("capabilities"), list):
        config["capabilities"] = [str(c) for c in info["capabilities"]]
    for src, dst in (
        ("model_family", "model_family"),
        ("parameter_size", "model_type"),
        ("quantization_level", "file_type"),
    ):
        if isinstance(info.get(src), str):
            config[dst] = info[src]
    config_bytes = json.dumps(config).encode()
    config_digest = "sha256:" + hashlib.sha256(config_bytes).hexdigest()
    state.store.write_blob(config_digest, config_bytes)
    manifest = {
        "schemaVersion": 2,
        "mediaType": catalog.MEDIA_MANIFEST,
        "config": {"mediaType": catalog.MEDIA_CONFIG, "digest": config_digest, "size": len(config_bytes)},
        "layers": layers,
    }
    yield {"status": "writing manifest"}
    state.store.write_manifest(name, json.dumps(manifest).encode())
    if old is not None:
        unused = {layer["digest"] for layer in old.layers} | {old.manifest.get("config", {}).get("digest", "")}
        unused -= {layer["digest"] for layer in layers} | {config_digest, ""}
        state.store.remove_unreferenced(unused)
    yield {"status": "success"}
