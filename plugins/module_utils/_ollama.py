# Copyright: contributors to llmstack.gateway
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module_utils is PRIVATE to this collection. It can change or be removed at any time.

"""Ollama model names, connection options and API calls shared by the Ollama modules."""

from __future__ import annotations

import hashlib
import os
import re

from ansible_collections.llmstack.gateway.plugins.module_utils._api import ApiError, HttpApi

DEFAULT_HOST = "registry.ollama.ai"
DEFAULT_NAMESPACE = "library"
DEFAULT_TAG = "latest"
MAX_NAME_LENGTH = 128

_PART = re.compile(r"^[A-Za-z0-9_.\-]+$")
_HOST = re.compile(r"^[A-Za-z0-9_.\-]+(:[0-9]+)?$")
# The blob a modelfile's FROM line names: <models>/blobs/sha256-<hex> (very old servers wrote sha256:<hex>).
_BLOB_PATH = re.compile(r"sha256[-:]([0-9a-fA-F]{64})$")
# Characters kept in the file name sent to /api/create (it refuses ':', backslashes and paths).
_FILE_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9._\-]")
UPLOAD_BLOCK = 1 << 20


class InvalidModelName(ValueError):
    pass


def parse_model_name(name):
    """Split `[host/][namespace/]model[:tag]` into its four parts, filling Ollama's defaults.

    Follows Ollama's rules: letters, digits, `_`, `.` and `-` (no `.` in a namespace, never `..`),
    at most 128 characters, an optional `http(s)://` prefix ignored, a `host:port` registry allowed.
    """
    original = name
    if not isinstance(name, str):
        raise InvalidModelName(f"invalid model name {original!r}")
    for scheme in ("http://", "https://"):
        if name.startswith(scheme):
            name = name[len(scheme) :]
    if not name or len(name) > MAX_NAME_LENGTH or ".." in name:
        raise InvalidModelName(f"invalid model name {original!r}")
    name = name.split("@", 1)[0]
    path, tag = name, DEFAULT_TAG
    last_slash = name.rfind("/")
    last_colon = name.rfind(":")
    if last_colon > last_slash:
        path, tag = name[:last_colon], name[last_colon + 1 :]
    tag = tag.split("+", 1)[0]
    parts = path.split("/")
    if len(parts) > 3:
        raise InvalidModelName(f"invalid model name {original!r}")
    model = parts[-1]
    namespace = parts[-2] if len(parts) >= 2 else DEFAULT_NAMESPACE
    host = parts[0] if len(parts) == 3 else DEFAULT_HOST
    if not (_PART.match(model) and _PART.match(tag) and _PART.match(namespace) and _HOST.match(host)):
        raise InvalidModelName(f"invalid model name {original!r}")
    if "." in namespace:
        raise InvalidModelName(f"invalid model name {original!r}")
    return host, namespace, model, tag


def model_key(name):
    """A case-insensitive identity for comparing model names the way Ollama does."""
    return tuple(part.lower() for part in parse_model_name(name))


def display_name(name):
    """The shortest form Ollama shows: default registry and `library/` dropped, the tag kept."""
    host, namespace, model, tag = parse_model_name(name)
    if host.lower() != DEFAULT_HOST:
        return f"{host}/{namespace}/{model}:{tag}"
    if namespace.lower() != DEFAULT_NAMESPACE:
        return f"{namespace}/{model}:{tag}"
    return f"{model}:{tag}"


def file_sha256(path, block=UPLOAD_BLOCK):
    """SHA-256 (hex) of a file, read in blocks: model files are many GB."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(block), b""):
            digest.update(chunk)
    return digest.hexdigest()


def model_blob_digest(show):
    """The SHA-256 (hex) of a model's weights blob, from the `modelfile` of its POST /api/show answer.

    Ollama writes a comment header, then `FROM <models>/blobs/sha256-<hex>` as the first command; the
    TEMPLATE, SYSTEM and LICENSE that follow are text a model's author wrote and may contain anything,
    so only that first command counts. None when the answer names no blob (e.g. a remote model).
    """
    modelfile = (show or {}).get("modelfile") or ""
    for raw in modelfile.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        command, _sep, argument = line.partition(" ")
        if command.upper() != "FROM":
            return None
        match = _BLOB_PATH.search(argument.strip())
        return match.group(1).lower() if match else None
    return None


def create_file_name(path):
    """The name a local file is given in /api/create's `files`: its base name, made safe.

    Ollama decides the file's type from this name (`.gguf`) or, without that extension, from its magic.
    """
    name = _FILE_NAME_UNSAFE.sub("_", os.path.basename(path))
    return name if name.strip(".") else "model.gguf"


def ollama_argument_spec():
    """Connection options shared by every Ollama module (documented in the ollama doc fragment)."""
    return {
        "api_url": {"type": "str", "default": "http://127.0.0.1:11434"},
        "api_key": {"type": "str", "no_log": True},
        "validate_certs": {"type": "bool", "default": True},
        "timeout": {"type": "int", "default": 30},
    }


def _same_model(name, entries):
    """The first entry (of /api/tags or /api/ps) naming the same model as `name`, or None."""
    wanted = model_key(name)
    for entry in entries:
        try:
            if model_key(entry.get("name") or entry.get("model") or "") == wanted:
                return entry
        except InvalidModelName:
            continue
    return None


class OllamaClient(HttpApi):
    """The Ollama REST API calls the modules need."""

    def __init__(self, params):
        super().__init__(
            params["api_url"],
            service="Ollama",
            token=params.get("api_key"),
            validate_certs=params["validate_certs"],
            timeout=params["timeout"],
        )

    def installed_models(self):
        """GET /api/tags: the installed models, each with its display name under `name`."""
        _status, body = self.call("GET", "/api/tags")
        return list((body or {}).get("models") or [])

    def loaded_models(self):
        """GET /api/ps: the models loaded in memory."""
        _status, body = self.call("GET", "/api/ps")
        return list((body or {}).get("models") or [])

    def version(self):
        _status, body = self.call("GET", "/api/version")
        return (body or {}).get("version")

    def find_installed(self, name, models=None):
        """The /api/tags entry that is the same model as `name`, or None."""
        return _same_model(name, self.installed_models() if models is None else models)

    def find_loaded(self, name):
        """The /api/ps entry that is the same model as `name`, or None."""
        return _same_model(name, self.loaded_models())

    def delete(self, name):
        """DELETE /api/delete. Returns False when Ollama says the model is not there."""
        try:
            self.call("DELETE", "/api/delete", {"model": name})
        except ApiError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def pull(self, name, insecure, timeout, progress=None):
        """POST /api/pull, streaming, into `progress` (shared across retries so every attempt counts).

        Returns the PullProgress; raises ApiError on any error line.
        """
        progress = progress if progress is not None else PullProgress()
        progress.succeeded = False
        payload = {"model": name, "insecure": insecure, "stream": True}
        for event in self.stream("POST", "/api/pull", payload, timeout=timeout):
            if "error" in event:
                raise ApiError(f"Ollama could not pull {name}: {event['error']}")
            progress.update(event)
        if not progress.succeeded:
            raise ApiError(
                f"Ollama's answer to pulling {name} ended before it reported success "
                f"(last status: {progress.last_status or 'none'}).",
                retryable=True,
            )
        return progress

    def show(self, name):
        """POST /api/show, or None when Ollama does not have the model."""
        try:
            _status, body = self.call("POST", "/api/show", {"model": name})
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        return body if isinstance(body, dict) else {}

    def has_blob(self, digest):
        """HEAD /api/blobs/<digest>: whether Ollama already stores that blob."""
        try:
            self.call("HEAD", f"/api/blobs/{digest}")
        except ApiError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def push_blob(self, digest, path, timeout):
        """POST /api/blobs/<digest> with the file streamed from disk (never read whole). Returns bytes sent.

        Ollama hashes what it receives and answers 400 `digest mismatch` when the file changed meanwhile.
        """
        api_path = f"/api/blobs/{digest}"
        size = os.path.getsize(path)
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        with open(path, "rb") as handle:
            body = _BlockReader(handle)
            try:
                # No redirect: a redirected POST would have to send the stream again.
                response = self.open(
                    "POST", api_path, timeout=timeout, headers=headers, data=body, follow_redirects="none"
                )
            except ApiError as exc:
                if not exc.timed_out:
                    raise
                raise ApiError(
                    f"{self._where('POST', api_path)} did not take the upload within {timeout} s "
                    f"({body.sent} of {size} bytes sent).",
                    retryable=True,
                    timed_out=True,
                ) from None
            response.read()
            response.close()
        return body.sent

    def create(self, name, payload, timeout):
        """POST /api/create, streaming; returns the statuses. Any `error` line raises with Ollama's words."""
        statuses = []
        request = dict(payload, model=name, stream=True)
        for event in self.stream("POST", "/api/create", request, timeout=timeout):
            if "error" in event:
                raise ApiError(f"Ollama could not create {name}: {event['error']}")
            status = event.get("status")
            if status:
                statuses.append(status)
        if not statuses or statuses[-1] != "success":
            raise ApiError(
                f"Ollama's answer to creating {name} ended before it reported success "
                f"(last status: {statuses[-1] if statuses else 'none'})."
            )
        return statuses

    def preload(self, name, keep_alive, timeout):
        """POST /api/generate with no prompt: Ollama loads the model and keeps it for keep_alive."""
        payload = {"model": name, "stream": False}
        if keep_alive is not None:
            payload["keep_alive"] = keep_alive
        self.call("POST", "/api/generate", payload, timeout=timeout)


class PullProgress:
    """Follows a pull's NDJSON progress: which layers, and how many bytes this call transferred."""

    def __init__(self, on_update=None):
        self._on_update = on_update
        self.first_completed = {}
        self.completed = {}
        self.totals = {}
        self.statuses = []
        self.succeeded = False

    @property
    def last_status(self):
        return self.statuses[-1] if self.statuses else None

    def update(self, event):
        status = event.get("status")
        if status and (not self.statuses or self.statuses[-1] != status):
            self.statuses.append(status)
        digest = event.get("digest")
        if digest:
            if "total" in event:
                self.totals[digest] = event["total"]
            # Ollama omits `completed` while it is 0; a resumed layer starts at what it already had.
            completed = event.get("completed", 0)
            self.first_completed.setdefault(digest, completed)
            self.completed[digest] = max(self.completed.get(digest, 0), completed)
        if status == "success":
            self.succeeded = True
        if self._on_update is not None:
            self._on_update(self)

    @property
    def bytes_pulled(self):
        """Bytes transferred by this task: what the layers reached minus what they already had."""
        return sum(self.completed[d] - self.first_completed.get(d, 0) for d in self.completed)

    @property
    def layers(self):
        return sorted(self.totals)

    @property
    def completed_bytes(self):
        """Bytes of all layers on the server so far (what earlier attempts or pulls left counts too)."""
        return sum(self.completed.values())

    @property
    def total_bytes(self):
        """Bytes of all layers Ollama has announced so far (it announces each layer as it starts it)."""
        return sum(self.totals.values())


class _BlockReader:
    """A file for http.client to send: it asks for 8 KiB at a time, this hands over 1 MiB and counts."""

    def __init__(self, handle):
        self._handle = handle
        self.sent = 0

    def read(self, _size=-1):
        chunk = self._handle.read(UPLOAD_BLOCK)
        self.sent += len(chunk)
        return chunk
