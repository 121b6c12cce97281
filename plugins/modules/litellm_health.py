#!/usr/bin/python
# Copyright: contributors to llmstack.gateway
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: litellm_health
short_description: Prove that a LiteLLM gateway is serving
version_added: 0.1.0
description:
  - Polls a LiteLLM proxy until it is healthy or O(wait_timeout) runs out, then reports every problem it
    found in one message.
  - Healthy means C(GET /health/liveliness) answers, C(GET /health/readiness) is healthy (and, with
    O(require_db), its C(db) field says C(connected) - the proxy keeps serving when its database
    migrations failed, so the status code alone proves nothing), the master key is accepted, every
    O(expected_models) is listed by C(GET /v1/models), and every O(probe_models) answers a real request.
  - A rejected master key ends the wait at once; waiting cannot fix it.
author:
  - llmstack.gateway maintainers (@llmstack)
extends_documentation_fragment:
  - llmstack.gateway.attributes
  - llmstack.gateway.attributes.info_module
options:
  url:
    description: Base URL of the LiteLLM proxy.
    type: str
    default: http://127.0.0.1:4000
  master_key:
    description:
      - The proxy's master key (or any key allowed to list models and call them).
      - Needed for the model list and the probes; without it only liveliness and readiness are checked.
    type: str
  expected_models:
    description: Model names (C(model_name) in the LiteLLM config) that C(/v1/models) must list.
    type: list
    elements: str
    default: []
  require_db:
    description: Require C(/health/readiness) to report its database as C(connected).
    type: bool
    default: false
  probe_models:
    description:
      - Models to send one tiny real request through the gateway. Each item is a model name (a chat
        probe) or a dict with C(name) and C(mode) (V(chat) or V(embedding)).
      - A chat probe sends one short message with O(probe_max_tokens); an embedding probe embeds one word.
    type: list
    elements: raw
    default: []
  probe_max_tokens:
    description: C(max_tokens) of a chat probe.
    type: int
    default: 5
  probe_timeout:
    description:
      - Seconds one probe may take. The first request to a local model waits for Ollama to load it.
    type: int
    default: 180
  wait_timeout:
    description:
      - Seconds to keep polling until the gateway is healthy. V(0) checks once.
      - A freshly started proxy needs tens of seconds before it answers.
    type: int
    default: 120
  delay:
    description: Seconds between two polls.
    type: int
    default: 3
  timeout:
    description: Seconds to wait for each request other than a probe.
    type: int
    default: 10
  validate_certs:
    description: Whether to verify the proxy's TLS certificate when O(url) is C(https://).
    type: bool
    default: true
  ca_path:
    description:
      - PEM file of the CA that signed the proxy's certificate, on the host the module runs on (for a gateway
        whose certificate a lab CA issued, for example C(/opt/litellm-stack/tls/ca.crt)).
      - Without it the host's system trust store is used.
    type: path
    version_added: 0.2.0
seealso:
  - name: LiteLLM proxy health checks
    description: LiteLLM's health endpoints.
    link: https://docs.litellm.ai/docs/proxy/health
"""

EXAMPLES = r"""
- name: Wait for the gateway and prove that it serves tinyllama
  llmstack.gateway.litellm_health:
    url: https://127.0.0.1:4444
    ca_path: /opt/litellm-stack/tls/ca.crt
    master_key: "{{ litellm_master_key }}"
    expected_models: [tinyllama, bge-m3]
    probe_models:
      - tinyllama
      - name: bge-m3
        mode: embedding
    require_db: true
  register: gateway

- name: Show the probe latencies
  ansible.builtin.debug:
    msg: "{{ gateway.probes | map(attribute='latency_ms') | list }}"
"""

RETURN = r"""
healthy:
  description: Whether every check passed.
  returned: always
  type: bool
  sample: true
url:
  description: The proxy URL that was checked.
  returned: always
  type: str
  sample: http://127.0.0.1:4444
liveliness:
  description: What C(GET /health/liveliness) answered.
  returned: always
  type: dict
  contains:
    ok:
      description: Whether it answered HTTP 200.
      type: bool
    status_code:
      description: HTTP status, or null when the proxy could not be reached.
      type: int
  sample: {ok: true, status_code: 200}
readiness:
  description: What C(GET /health/readiness) answered.
  returned: always
  type: dict
  contains:
    status:
      description: The proxy's own status word.
      type: str
    db:
      description: The proxy's database state (C(connected), C(Not connected), ...).
      type: str
    status_code:
      description: HTTP status (503 when a configured database is not connected).
      type: int
  sample: {status: healthy, db: connected, status_code: 200}
models:
  description: Model names C(/v1/models) lists.
  returned: always
  type: list
  elements: str
  sample: [tinyllama, bge-m3]
missing_models:
  description: O(expected_models) that C(/v1/models) does not list.
  returned: always
  type: list
  elements: str
  sample: []
probes:
  description: One entry per O(probe_models).
  returned: always
  type: list
  elements: dict
  contains:
    model:
      description: Model name.
      type: str
    mode:
      description: V(chat) or V(embedding).
      type: str
    ok:
      description: Whether the request succeeded.
      type: bool
    latency_ms:
      description: How long the request took.
      type: int
    error:
      description: The backend's error text when it failed, else null.
      type: str
  sample:
    - {model: tinyllama, mode: chat, ok: true, latency_ms: 412, error: null}
problems:
  description: Every problem found on the last poll (empty when healthy).
  returned: always
  type: list
  elements: str
  sample: []
elapsed_s:
  description: Seconds spent polling.
  returned: always
  type: float
  sample: 12.4
"""

import json
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.llmstack.gateway.plugins.module_utils._api import ApiError, HttpApi, error_text, wait_until

PROBE_MODES = ("chat", "embedding")


def checked_options(module):
    """Fail on a bad option before any request; return the probes, each as {name, mode}."""
    for option in ("wait_timeout", "delay", "timeout", "probe_timeout", "probe_max_tokens"):
        if module.params[option] < 0:
            module.fail_json(msg=f"{option} must be 0 or more.")
    return normalise_probes(module)


def normalise_probes(module):
    probes = []
    for position, raw in enumerate(module.params["probe_models"]):
        where = f"probe_models[{position}]"
        item = {"name": raw, "mode": "chat"} if isinstance(raw, str) else raw
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
            module.fail_json(msg=f"{where} must be a model name or a dict with a name.")
        unknown = sorted(set(item) - {"name", "mode"})
        if unknown:
            module.fail_json(msg=f"{where} has unknown keys: {', '.join(unknown)} (allowed: name, mode).")
        mode = item.get("mode") or "chat"
        if mode not in PROBE_MODES:
            module.fail_json(msg=f"{where}.mode must be one of {', '.join(PROBE_MODES)}, not {mode!r}.")
        probes.append({"name": item["name"], "mode": mode})
    return probes


class Gateway:
    """The LiteLLM proxy endpoints this module reads."""

    def __init__(self, module):
        params = module.params
        self.api = HttpApi(
            params["url"],
            service="LiteLLM",
            token=params["master_key"],
            validate_certs=params["validate_certs"],
            timeout=params["timeout"],
            ca_path=params["ca_path"],
        )
        self.params = params

    def liveliness(self):
        try:
            status, _body = self.api.call("GET", "/health/liveliness")
        except ApiError as exc:
            return {"ok": False, "status_code": exc.status}, str(exc)
        return {"ok": status == 200, "status_code": status}, None

    def readiness(self):
        try:
            status, body = self.api.call("GET", "/health/readiness")
        except ApiError as exc:
            # 503 still carries the proxy's reason, e.g. its database state.
            status, body = exc.status, exc.body
            if status is None:
                return {"status": None, "db": None, "status_code": None}, str(exc)
        data = _json_dict(body)
        result = {"status": data.get("status"), "db": data.get("db"), "status_code": status}
        if status != 200 or data.get("status") != "healthy":
            return result, f"/health/readiness answered HTTP {status}: {error_text(body) or data.get('status')}"
        return result, None

    def models(self):
        """(model ids, problem, terminal): a rejected key is terminal."""
        try:
            _status, body = self.api.call("GET", "/v1/models")
        except ApiError as exc:
            if exc.status in (401, 403) or _error_type(exc.body) in ("auth_error", "no_db_connection"):
                hint = (
                    " LiteLLM looks up any key other than its master key in its database, and it has none."
                    if _error_type(exc.body) == "no_db_connection"
                    else ""
                )
                return [], f"the master key was rejected (HTTP {exc.status}: {error_text(exc.body)}).{hint}", True
            return [], str(exc), False
        ids = [entry.get("id") for entry in _json_dict(body).get("data", []) if isinstance(entry, dict)]
        return ids, None, False

    def probe(self, model, mode):
        if mode == "embedding":
            path, payload = "/v1/embeddings", {"model": model, "input": "ping"}
        else:
            path = "/v1/chat/completions"
            payload = {
                "model": model,
                "messages": [{"role": "user", "content": "Reply with one word: ping"}],
                "max_tokens": self.params["probe_max_tokens"],
            }
        started = time.monotonic()
        error = None
        try:
            _status, body = self.api.call("POST", path, payload, timeout=self.params["probe_timeout"])
            if mode == "embedding" and not _json_dict(body).get("data"):
                error = "the answer held no embedding"
            if mode == "chat" and not _json_dict(body).get("choices"):
                error = "the answer held no choices"
        except ApiError as exc:
            error = error_text(exc.body) if exc.body else str(exc)
        latency = int((time.monotonic() - started) * 1000)
        return {"model": model, "mode": mode, "ok": error is None, "latency_ms": latency, "error": error}


def _json_dict(body):
    if isinstance(body, dict):
        return body
    if isinstance(body, (bytes, str)):
        try:
            data = json.loads(body)
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}
    return {}


def _error_type(body):
    error = _json_dict(body).get("error")
    return error.get("type") if isinstance(error, dict) else None


def check(gateway, params, probes):
    """One poll: returns (done, state). done when healthy, or when waiting cannot help."""
    state = {
        "liveliness": {"ok": False, "status_code": None},
        "readiness": {"status": None, "db": None, "status_code": None},
        "models": [],
        "missing_models": list(params["expected_models"]),
        "probes": [],
        "problems": [],
    }
    problems = state["problems"]
    state["liveliness"], problem = gateway.liveliness()
    if problem:
        problems.append(problem)
        return False, state
    state["readiness"], problem = gateway.readiness()
    if problem:
        problems.append(problem)
    if params["require_db"] and state["readiness"]["db"] != "connected":
        problems.append(f"the database is not connected (readiness reports db: {state['readiness']['db']!r}).")
    if not params["master_key"]:
        if params["expected_models"] or probes:
            problems.append("master_key is needed to list models and send probes.")
            return True, state
        return not problems, state
    models, problem, terminal = gateway.models()
    state["models"] = models
    if problem:
        problems.append(problem)
        return terminal, state
    state["missing_models"] = [name for name in params["expected_models"] if name not in models]
    if state["missing_models"]:
        problems.append(f"/v1/models does not list: {', '.join(state['missing_models'])}.")
    if not problems:
        for probe in probes:
            outcome = gateway.probe(probe["name"], probe["mode"])
            state["probes"].append(outcome)
            if not outcome["ok"]:
                problems.append(f"the {probe['mode']} probe of {probe['name']} failed: {outcome['error']}")
    return not problems, state


def main():
    module = AnsibleModule(
        argument_spec={
            "url": {"type": "str", "default": "http://127.0.0.1:4000"},
            "master_key": {"type": "str", "no_log": True},
            "expected_models": {"type": "list", "elements": "str", "default": []},
            "require_db": {"type": "bool", "default": False},
            "probe_models": {"type": "list", "elements": "raw", "default": []},
            "probe_max_tokens": {"type": "int", "default": 5, "no_log": False},
            "probe_timeout": {"type": "int", "default": 180},
            "wait_timeout": {"type": "int", "default": 120},
            "delay": {"type": "int", "default": 3},
            "timeout": {"type": "int", "default": 10},
            "validate_certs": {"type": "bool", "default": True},
            "ca_path": {"type": "path"},
        },
        supports_check_mode=True,
    )
    probes = checked_options(module)
    gateway = Gateway(module)

    _done, state, elapsed = wait_until(
        lambda: check(gateway, module.params, probes), module.params["wait_timeout"], module.params["delay"]
    )
    healthy = not state["problems"]
    result = dict(state, changed=False, healthy=healthy, url=gateway.api.base_url, elapsed_s=round(elapsed, 1))
    if not healthy:
        waited = f" after {round(elapsed)} s" if module.params["wait_timeout"] else ""
        module.fail_json(
            msg=f"LiteLLM gateway at {gateway.api.base_url} is not healthy{waited}: " + " ".join(state["problems"]),
            **result,
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
