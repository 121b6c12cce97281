"""gin's ShouldBindJSON into a Go struct, with the messages of Go's encoding/json.

Ollama's OpenAI layer hands these messages to the client, so a client sees the same text for the same
mistake. Go's decoder reads one JSON value and ignores what follows it, treats a JSON ``null`` as "leave
the field alone", matches keys case-insensitively, skips unknown keys, and reports the first type error
after reading the whole value.
"""

from __future__ import annotations

import json
from typing import Any

_WHITESPACE = " \t\r\n"
_MAX_INT = 2**63 - 1
_LITERALS = {"t": "true", "f": "false", "n": "null"}


class BindError(Exception):
    """The request body does not decode into the struct; str() is Go's message."""


def bind(raw: bytes, go_type: str, fields: dict[str, str]) -> dict[str, Any]:
    """Decode ``raw`` into the fields of ``go_type`` (``"openai.EmbedRequest"``), given as
    ``{"json key": "string"|"int"|"any"}``.

    Returns the fields present in the body (null ``any`` fields as None); raises BindError.
    """
    text = raw.decode(errors="replace").lstrip(_WHITESPACE)
    if not text:
        raise BindError("EOF")
    try:
        value, _ = json.JSONDecoder().raw_decode(text)
    except json.JSONDecodeError as exc:
        raise BindError(_syntax_error(text, exc)) from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BindError(f"json: cannot unmarshal {_kind(value)} into Go value of type {go_type}")
    struct = go_type.rpartition(".")[2]
    folded = {key.lower(): key for key in fields}
    bound: dict[str, Any] = {}
    first_error = None
    for key, item in value.items():
        field = key if key in fields else folded.get(key.lower())
        if field is None:
            continue
        field_type = fields[field]
        if item is None:
            if field_type == "any":
                bound[field] = None
            continue
        mismatch = _mismatch(item, field_type)
        if mismatch is None:
            bound[field] = item
        elif first_error is None:
            where = f"Go struct field {struct}.{field} of type {field_type}"
            first_error = f"json: cannot unmarshal {mismatch} into {where}"
    if first_error is not None:
        raise BindError(first_error)
    return bound


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _mismatch(value: Any, go_type: str) -> str | None:
    """What Go's UnmarshalTypeError calls the value, or None when it fits the type."""
    kind = _kind(value)
    if go_type == "any":
        return None
    if go_type == "string":
        return None if kind == "string" else kind
    if kind != "number":
        return kind
    if isinstance(value, int) and -_MAX_INT - 1 <= value <= _MAX_INT:
        return None
    return f"number {value}"


def _quote_char(char: str) -> str:
    """Go's quoteChar: the offending character as the scanner's messages show it."""
    if char == "'":
        return "'\\''"
    if char == '"':
        return "'\"'"
    if char.isprintable():
        return f"'{char}'"
    return "'" + json.dumps(char)[1:-1] + "'"


def _innermost(text: str) -> str:
    """'{' or '[': the container open at the end of ``text`` (strings skipped)."""
    stack: list[str] = []
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "{[":
            stack.append(char)
        elif char in "}]" and stack:
            stack.pop()
    return stack[-1] if stack else ""


def _syntax_error(text: str, exc: json.JSONDecodeError) -> str:
    msg, pos = exc.msg, exc.pos
    if msg.startswith("Unterminated string"):
        return "unexpected EOF"
    if msg.startswith("Illegal trailing comma"):  # Python 3.13: pos is the comma, Go complains about what follows
        rest = text[pos + 1 :].lstrip(_WHITESPACE)
        if not rest:
            return "unexpected EOF"
        expected = "object key string" if "object" in msg else "value"
        return f"invalid character {_quote_char(rest[0])} looking for beginning of {expected}"
    if pos >= len(text):
        return "unexpected EOF"
    char = _quote_char(text[pos])
    if msg.startswith("Invalid control character"):
        return f"invalid character {char} in string literal"
    if msg.startswith("Invalid \\u"):
        start = text.find("u", pos) + 1
        bad = next((c for c in text[start : start + 4] if c not in "0123456789abcdefABCDEF"), None)
        if bad is None:
            return "unexpected EOF"
        return f"invalid character {_quote_char(bad)} in \\u hexadecimal character escape"
    if msg.startswith("Invalid \\escape"):
        return f"invalid character {_quote_char(text[pos + 1 : pos + 2] or ' ')} in string escape code"
    literal = _LITERALS.get(text[pos]) if msg.startswith("Expecting value") else None
    if literal is not None:
        for offset, expected in enumerate(literal):
            if pos + offset >= len(text):
                return "unexpected EOF"
            if text[pos + offset] != expected:
                got = _quote_char(text[pos + offset])
                return f"invalid character {got} in literal {literal} (expecting {_quote_char(expected)})"
    if msg.startswith("Expecting property name"):
        return f"invalid character {char} looking for beginning of object key string"
    if msg.startswith("Expecting ':'"):
        return f"invalid character {char} after object key"
    if msg.startswith("Expecting ','"):
        if _innermost(text[:pos]) == "{":
            return f"invalid character {char} after object key:value pair"
        return f"invalid character {char} after array element"
    return f"invalid character {char} looking for beginning of value"
