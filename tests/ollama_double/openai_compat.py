"""Ollama's OpenAI-compatible layer (/v1/*), as middleware/openai.go and openai/openai.go build it.

Ollama serves /v1/embeddings with a gin middleware in front of its native embed handler: the middleware
binds the OpenAI request, checks it, hands the handler a native request holding only model, input and
dimensions, and rewrites the handler's answer (success or error) into OpenAI's shapes. The double does the
same in front of api.embed, so vectors, token counts, statuses and native error texts are the ones
/api/embed gives. Like the rest of Ollama, it reads no credential: an Authorization header changes nothing.
"""

from __future__ import annotations

import base64
import struct
from typing import Any

from . import api, gobind
from .state import State

_EMBED_FIELDS = {"input": "any", "model": "string", "dimensions": "int", "encoding_format": "string"}
_ENCODINGS = ("float", "base64")
_NO_MESSAGE = "something went wrong, please see the ollama server logs for details"  # api.StatusError's


def error_body(status: int, message: str) -> dict[str, Any]:
    """openai.NewError: the type follows the status; param and code are always null."""
    kind = {400: "invalid_request_error", 404: "not_found_error"}.get(status, "api_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def _abort(status: int, message: str) -> api.Reply:
    """The middleware's own refusals: gin's c.AbortWithStatusJSON (charset, no trailing newline)."""
    return api.Reply(status, error_body(status, message))


def _rewritten(status: int, body: dict[str, Any]) -> api.Reply:
    """Answers rewritten by the middleware's writer: json.Encoder (trailing newline), bare content type."""
    return api.Reply(status, body, "application/json", trailing_newline=True)


def embeddings(state: State, raw: bytes) -> api.Reply:
    """POST /v1/embeddings (EmbeddingsMiddleware, then EmbedHandler, then EmbedWriter)."""
    try:
        req = gobind.bind(raw, "openai.EmbedRequest", _EMBED_FIELDS)
    except gobind.BindError as exc:
        return _abort(400, str(exc))
    encoding = req.get("encoding_format", "")
    if encoding and encoding.lower() not in _ENCODINGS:
        return _abort(400, f"Invalid value for 'encoding_format' = {encoding}. Supported values: ['float', 'base64'].")
    inputs = req.get("input")
    if inputs == "":
        inputs = [""]
    if inputs is None or inputs == []:
        return _abort(400, "invalid input")
    model = req.get("model", "")
    native: dict[str, Any] = {"model": model, "input": inputs}
    if req.get("dimensions"):
        native["dimensions"] = req["dimensions"]
    try:
        reply = api.embed(state, native)
    except api.BadRequest as exc:
        reply = api.error(exc.status, exc.message)
    if reply.status != 200:
        message = reply.body.get("error") if isinstance(reply.body, dict) else None
        return _rewritten(reply.status, error_body(reply.status, str(message or _NO_MESSAGE)))
    return _rewritten(200, embedding_list(model, reply.body, encoding))


def embedding_list(model: str, native: dict[str, Any], encoding: str) -> dict[str, Any]:
    """openai.ToEmbeddingList: base64 is the little-endian float32 bytes of each vector."""
    vectors = native.get("embeddings")
    if vectors is None:
        return {"object": "", "data": None, "model": "", "usage": {"prompt_tokens": 0, "total_tokens": 0}}
    data = []
    for index, vector in enumerate(vectors):
        if encoding.lower() == "base64":
            packed: Any = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        else:
            packed = vector
        data.append({"object": "embedding", "embedding": packed, "index": index})
    tokens = native.get("prompt_eval_count", 0)
    return {
        "object": "list",
        "data": data or None,  # Go appends to a nil slice: no vectors encode as null
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
