"""Model names the way Ollama parses, validates, compares and displays them.

Reimplemented from the behaviour of types/model/name.go and internal/modelref (Ollama v0.3x):
``[scheme://][host/][namespace/]model[:tag]``, defaults ``registry.ollama.ai`` / ``library`` / ``latest``,
per-part character rules, case-insensitive equality, and the shortest display form.
"""

from __future__ import annotations

import dataclasses

DEFAULT_HOST = "registry.ollama.ai"
DEFAULT_NAMESPACE = "library"
DEFAULT_TAG = "latest"
DEFAULT_SCHEME = "https"
MISSING_PART = "!MISSING!"

_HOST, _NAMESPACE, _MODEL, _TAG = range(4)


class ModelRequiredError(ValueError):
    """The name was empty (Ollama: ``model is required``)."""


@dataclasses.dataclass(frozen=True)
class Name:
    host: str
    namespace: str
    model: str
    tag: str
    scheme: str = DEFAULT_SCHEME

    @property
    def parts(self) -> tuple[str, str, str, str]:
        return (self.host, self.namespace, self.model, self.tag)

    def is_valid(self) -> bool:
        return all(_valid_part(kind, part) for kind, part in enumerate(self.parts))

    def key(self) -> tuple[str, str, str, str]:
        """Case-folded identity: two names are the same model when their keys are equal."""
        return tuple(part.lower() for part in self.parts)  # type: ignore[return-value]

    def equal_fold(self, other: Name) -> bool:
        return self.key() == other.key()

    def display(self) -> str:
        """Ollama's DisplayShortest: drop the default host (and namespace) but always keep the tag."""
        if self.host.lower() != DEFAULT_HOST:
            prefix = f"{self.host}/{self.namespace}/"
        elif self.namespace.lower() != DEFAULT_NAMESPACE:
            prefix = f"{self.namespace}/"
        else:
            prefix = ""
        return f"{prefix}{self.model}:{self.tag}"

    def full(self) -> str:
        return f"{self.host}/{self.namespace}/{self.model}:{self.tag}"

    def namespace_model(self) -> str:
        return f"{self.namespace}/{self.model}"

    def with_parts(self, parts: tuple[str, str, str, str]) -> Name:
        return dataclasses.replace(self, host=parts[0], namespace=parts[1], model=parts[2], tag=parts[3])


def _cut_last(s: str, sep: str) -> tuple[str, str, bool]:
    i = s.rfind(sep)
    if i < 0:
        return s, "", False
    return s[:i] or MISSING_PART, s[i + len(sep) :] or MISSING_PART, True


def parse_bare(s: str) -> Name:
    """Split a name into its parts without applying defaults (empty string = part absent)."""
    host = namespace = tag = scheme = ""
    if s.rfind(":") > s.rfind("/"):
        s, tag, _ = _cut_last(s, ":")
    s, model, promised = _cut_last(s, "/")
    if not promised:
        return Name(host, namespace, s, tag, scheme)
    s, namespace, promised = _cut_last(s, "/")
    if not promised:
        return Name(host, s, model, tag, scheme)
    scheme_part, sep, rest = s.partition("://")
    if sep:
        scheme, host = scheme_part, rest
    else:
        host = s
    return Name(host, namespace, model, tag, scheme)


def parse(s: str) -> Name:
    """Parse with defaults merged in. The result may be invalid: check ``is_valid()``."""
    bare = parse_bare(s)
    return Name(
        bare.host or DEFAULT_HOST,
        bare.namespace or DEFAULT_NAMESPACE,
        bare.model,
        bare.tag or DEFAULT_TAG,
        bare.scheme or DEFAULT_SCHEME,
    )


def parse_ref(raw: str | None) -> Name:
    """Parse a name as the API handlers do: trim, reject empty, drop an explicit ``:local`` source suffix.

    Raises ModelRequiredError for an empty name; the caller decides the status code (it differs per
    endpoint in Ollama). An invalid result is returned as is: check ``is_valid()``.
    """
    raw = (raw or "").strip()
    if not raw:
        raise ModelRequiredError("model is required")
    head, sep, suffix = raw.rpartition(":")
    if sep and suffix.strip().lower() == "local":
        raw = head
    return parse(raw)


def _is_alnum_or_underscore(c: str) -> bool:
    return ("a" <= c <= "z") or ("A" <= c <= "Z") or ("0" <= c <= "9") or c == "_"


def _valid_part(kind: int, s: str) -> bool:
    limit = 350 if kind == _HOST else 80
    if not 1 <= len(s) <= limit:
        return False
    for i, c in enumerate(s):
        if i == 0:
            if not _is_alnum_or_underscore(c):
                return False
            continue
        if c in "_-":
            continue
        if c == ".":
            if kind == _NAMESPACE:
                return False
            continue
        if c == ":":
            if kind != _HOST:
                return False
            continue
        if not _is_alnum_or_underscore(c):
            return False
    return True
