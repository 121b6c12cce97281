# Copyright: contributors to llmstack.gateway
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module_utils is PRIVATE to this collection. It can change or be removed at any time.

"""One HTTP client for the collection's API modules: requests, error mapping, retries and waiting.

Every failure becomes an ApiError whose message says which service, which URL, what went wrong in
the service's own words, and (for connection problems) what to check.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import socket
import ssl
import time
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit

from ansible.module_utils.urls import open_url

_LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost")


class ApiError(Exception):
    """A failed API call. `retryable` marks failures that another attempt may cure."""

    def __init__(self, message, status=None, body=None, retryable=False, timed_out=False):
        super().__init__(message)
        self.status = status
        self.body = body
        self.retryable = retryable
        self.timed_out = timed_out


def error_text(body):
    """The service's own error message from a response body (JSON or text), shortened."""
    if body is None:
        return ""
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    text = body.strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text[:500]
    if isinstance(data, dict):
        error = data.get("error", data.get("detail", data))
        if isinstance(error, dict):
            error = error.get("message", error)
        if isinstance(error, str):
            return error[:500]
        return json.dumps(error)[:500]
    return text[:500]


def is_loopback(url):
    host = urlsplit(url).hostname or ""
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class HttpApi:
    """A JSON-over-HTTP API at base_url, named `service` in every error message."""

    def __init__(self, base_url, service, *, token=None, validate_certs=True, timeout=30, ca_path=None):
        self.base_url = base_url.rstrip("/")
        self.service = service
        self.validate_certs = validate_certs
        self.timeout = timeout
        self.ca_path = ca_path
        self.headers = {"Accept": "application/json"}
        if token:
            self.headers["Authorization"] = "Bearer " + token
        # A proxy from the environment must never see loopback traffic (nor the bearer token).
        self.use_proxy = not is_loopback(self.base_url)

    def url(self, path):
        return self.base_url + path

    def _where(self, method, path):
        return f"{self.service} at {self.base_url} ({method} {path})"

    def open(self, method, path, payload=None, timeout=None, headers=None, *, data=None, follow_redirects="safe"):
        """Send a request; return the open response for 2xx, raise ApiError otherwise.

        `payload` goes as JSON; `data` (bytes or a file-like object) goes as it is, with the caller's headers.
        """
        request_headers = dict(self.headers)
        if headers:
            request_headers.update(headers)
        if payload is not None:
            data = json.dumps(payload).encode("utf-8")
            request_headers["Content-Type"] = "application/json"
        seconds = timeout or self.timeout
        try:
            return open_url(
                self.url(path),
                data=data,
                headers=request_headers,
                method=method,
                timeout=seconds,
                validate_certs=self.validate_certs,
                use_proxy=self.use_proxy,
                ca_path=self.ca_path,
                follow_redirects=follow_redirects,
                http_agent="ansible-llmstack.gateway",
            )
        except HTTPError as exc:
            body = _read_quietly(exc)
            detail = error_text(body) or exc.reason
            raise ApiError(
                f"{self._where(method, path)} answered HTTP {exc.code}: {detail}",
                status=exc.code,
                body=body,
                retryable=exc.code in (429, 502, 503, 504),
            ) from None
        except (TimeoutError, socket.timeout):
            raise ApiError(
                f"{self._where(method, path)} did not answer within {seconds} s.", retryable=True, timed_out=True
            ) from None
        except URLError as exc:
            raise self._connection_error(method, path, exc.reason) from None
        except (ConnectionError, http.client.HTTPException, ssl.SSLError, OSError) as exc:
            raise self._connection_error(method, path, exc) from None

    def _connection_error(self, method, path, reason):
        if isinstance(reason, ssl.SSLError) or "CERTIFICATE_VERIFY_FAILED" in str(reason):
            return ApiError(
                f"{self._where(method, path)}: TLS verification failed ({reason}). Give the CA that signed "
                "the server's certificate, or (only for a test server) set validate_certs=false."
            )
        if isinstance(reason, (TimeoutError, socket.timeout)):
            return ApiError(
                f"{self._where(method, path)} did not answer in time ({reason}). Check that it is running "
                "and not overloaded, or allow more time.",
                retryable=True,
            )
        return ApiError(
            f"Cannot reach {self._where(method, path)}: {reason}. Check that it is running and "
            "listening on that address and port.",
            retryable=True,
        )

    def call(self, method, path, payload=None, timeout=None, headers=None):
        """Send a request and return (status, decoded JSON or text, or None when empty)."""
        response = self.open(method, path, payload=payload, timeout=timeout, headers=headers)
        try:
            raw = response.read()
        except (TimeoutError, socket.timeout, ConnectionError, http.client.HTTPException, OSError) as exc:
            raise ApiError(f"{self._where(method, path)}: the response broke off ({exc}).", retryable=True) from None
        finally:
            response.close()
        return response.status, _decode(raw)

    def stream(self, method, path, payload=None, timeout=None):
        """Yield each JSON object of a newline-delimited JSON (NDJSON) response.

        A connection that drops mid-stream raises a retryable ApiError.
        """
        response = self.open(method, path, payload=payload, timeout=timeout)
        try:
            while True:
                try:
                    line = response.readline()
                except (TimeoutError, socket.timeout):
                    raise ApiError(
                        f"{self._where(method, path)} went silent for more than {timeout or self.timeout} s "
                        "in the middle of its answer.",
                        retryable=True,
                    ) from None
                except (ConnectionError, http.client.HTTPException, OSError) as exc:
                    raise ApiError(
                        f"{self._where(method, path)}: the connection dropped mid-stream ({exc}).", retryable=True
                    ) from None
                if not line:
                    return
                line = line.strip()
                if not line:
                    continue
                try:
                    yield json.loads(line)
                except ValueError:
                    raise ApiError(
                        f"{self._where(method, path)} sent a line that is not JSON: {line[:200]!r}"
                    ) from None
        finally:
            response.close()


def _read_quietly(exc):
    try:
        return exc.read()
    except Exception:  # the status alone still tells the story
        return None


def _decode(raw):
    if not raw:
        return None
    text = raw.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


def with_retries(action, attempts, delay=2.0, on_retry=None, sleep=time.sleep):
    """Run action(); retry a retryable ApiError up to `attempts` more times, doubling the delay."""
    attempt = 0
    while True:
        try:
            return action()
        except ApiError as exc:
            if not exc.retryable or attempt >= attempts:
                raise
            attempt += 1
            if on_retry is not None:
                on_retry(attempt, exc)
            sleep(delay)
            delay = min(delay * 2, 30)


def wait_until(check, timeout, delay, clock=time.monotonic, sleep=time.sleep):
    """Call check() until it returns (True, detail) or `timeout` seconds pass.

    Returns (done, detail, elapsed_seconds) from the last call.
    """
    started = clock()
    while True:
        done, detail = check()
        elapsed = clock() - started
        if done or elapsed + delay > timeout:
            return done, detail, elapsed
        sleep(delay)
