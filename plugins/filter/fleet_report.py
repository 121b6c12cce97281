# Copyright: contributors to llmstack.gateway
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The fleet report's data (documented in fleet_report_data.yml): one row per host, counts per tier.

Every value is plain text: escaping is the job of the Markdown and HTML templates that render it. Each
fact the other roles publish may be missing or malformed (a host that was never reached has none of
them), so every read here falls back to "not known" rather than failing the report.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from urllib.parse import urlencode

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean

STATUSES = ["healthy", "unhealthy", "failed", "unreachable", "not checked"]
# Statuses that leave nothing for a person to do: the others are listed under "Needs attention".
QUIET = ("healthy", "not checked")
# Workers publish their health gate's verdict, gateways and standalone hosts register litellm_health's
# result: the fact of the host's own role is read first, the other one when that is missing.
WORKER_HEALTH = "llmstack_worker_health"
STACK_HEALTH = "litellm_stack_health"
# An image digest is shown by its first 12 hex digits, as docker does.
DIGEST_SHOWN = len("sha256:") + 12
# What each report format carries (in a comment or a meta tag): the digest of its content minus the time.
REPORT_DIGEST = re.compile(r"fleet-report-digest: ([0-9a-f]{64})")


def _text(value):
    """The value as text, "" for a missing or empty one."""
    return str(value) if value else ""


def _int(value):
    """Whole number of a count that may come as text, 0 when it is missing or not a number."""
    try:
        return int(value)
    except (TypeError, ValueError):
        try:
            return int(float(value))
        except (TypeError, ValueError):
            return 0


def _is_list(value):
    if isinstance(value, (str, bytes, Mapping)):
        return False
    try:
        iter(value)
    except TypeError:
        return False
    return True


def _unique_sorted(values):
    """Sorted without regard to case, one of each (the first spelling wins): how names are listed."""
    seen = {}
    for value in values:
        seen.setdefault(value.lower(), value)
    return sorted(seen.values(), key=str.lower)


def _gpus(gpu):
    """The host's GPUs counted per model with its VRAM: "2 \N{MULTIPLICATION SIGN} NVIDIA GeForce RTX 4090 (24 GiB)".

    Models in the order nvidia-smi first lists each, joined by ", "; VRAM in nominal GiB (MiB rounded to
    the nearest GiB, as gpu_tier counts it). "" when the host told nothing about its GPUs, "none" when it
    has none.
    """
    if gpu is None:
        return ""
    counts = {}
    for card in gpu.get("gpus") or []:
        if not isinstance(card, Mapping):
            continue
        mib = _int(card.get("memory_total_mib"))
        label = (_text(card.get("name")) or "unnamed GPU").strip()
        if mib > 0:
            label += f" ({round(mib / 1024)} GiB)"
        counts[label] = counts.get(label, 0) + 1
    if counts:
        return ", ".join(f"{count} \N{MULTIPLICATION SIGN} {label}" for label, count in counts.items())
    if _int(gpu.get("gpu_count")) > 0:
        return f"{_int(gpu.get('gpu_count'))} \N{MULTIPLICATION SIGN} unnamed GPU"
    return "none"


def _driver(gpu):
    """ "550.54.14 (CUDA 12.4)"; "" on hosts without a driver."""
    driver = _text(gpu.get("driver_version")) if gpu is not None else ""
    if driver and gpu.get("cuda_version"):
        driver += f" (CUDA {gpu['cuda_version']})"
    return driver


def _health_check(hv, fleet_role):
    """The health result the host published, or None when it published none that ran."""
    names = [WORKER_HEALTH, STACK_HEALTH] if fleet_role == "worker" else [STACK_HEALTH, WORKER_HEALTH]
    for name in names:
        check = hv.get(name)
        if isinstance(check, Mapping) and not check.get("skipped", False):
            return check
    return None


def _verdict(check):
    """(status, problems) of a health result."""
    if check is None:
        return "not checked", []
    if "healthy" in check:
        status = "healthy" if boolean(check["healthy"], strict=False) else "unhealthy"
    elif boolean(check.get("failed", False), strict=False):
        status = "unhealthy"
    else:
        return "not checked", []
    if status == "healthy":
        return status, []
    problems = check.get("problems") or []
    problems = [str(p) for p in problems] if _is_list(problems) else [str(problems)]
    if not problems and check.get("msg"):
        problems = [str(check["msg"])]
    return status, problems


def _images(images):
    """The tag of each service's image ("ollama 0.33.3"), the full reference kept beside it."""
    if not isinstance(images, Mapping):
        return []
    result = []
    for service, value in images.items():
        ref = str(value)
        name, at, digest = ref.partition("@")
        # The last path segment: a registry's port (registry:5000/ollama) is not a tag.
        colon, tag = name.split("/")[-1].partition(":")[1:]
        if at:
            tag = (f"{tag}@" if tag else "") + digest[:DIGEST_SHOWN]
        elif not colon:
            tag = "latest"
        result.append({"service": str(service), "tag": tag, "ref": ref})
    return result


def fleet_report_row(host, hv, in_play):
    """The report's row for `host` from its hostvars `hv`; `in_play`: the play still had it at the end."""
    fleet_role = _text(hv.get("llmstack_fleet_role")) or "standalone"

    # The tier fact (set by gpu_tier, or given in the inventory), else the detected one.
    gpu = hv.get("llmstack_gpu")
    gpu = gpu if isinstance(gpu, Mapping) else None
    tier = _text(hv.get("llmstack_gpu_tier"))
    if not tier and gpu is not None:
        tier = _text(gpu.get("tier"))

    # What Ollama has; None when unknown (a gateway runs no Ollama, an unreached host told nothing).
    present = hv.get("ollama_models_present")
    models = _unique_sorted(str(m) for m in present) if _is_list(present) else None

    vip = hv.get("llmstack_fleet_vip")
    vip = vip if isinstance(vip, Mapping) else {}

    check = _health_check(hv, fleet_role)
    status, problems = _verdict(check)
    if not in_play:
        # Ansible does not tell later plays whether a host it dropped failed or was unreachable: one with
        # no facts at all (neither gathered nor published by a role) was never reached.
        reached = bool(hv.get("ansible_facts")) or gpu is not None or models is not None or check is not None
        status = "failed" if reached else "unreachable"
    # The gated deploy of site.yml/rollout.yml rescues a host's failure (so that the run reaches this
    # report) and records why; an earlier batch's stop leaves a reason to each host it spared.
    if "llmstack_rollout_failure" in hv:
        status, problems = "failed", [str(hv["llmstack_rollout_failure"])]
    elif "llmstack_rollout_skipped" in hv:
        status, problems = "not checked", [str(hv["llmstack_rollout_skipped"])]

    return {
        "host": str(host),
        "fleet_role": fleet_role,
        "tier": tier or "unknown",
        "gpus": _gpus(gpu),
        "driver": _driver(gpu),
        "models": models,
        "health": status,
        "problems": problems,
        "images": _images(hv.get("litellm_stack_images")),
        "last_change": _text(hv.get("llmstack_last_change")),
        # A gateway with keepalived publishes whether it holds the VIP at the end of the run; None elsewhere.
        "vip": _text(vip.get("address")),
        "holds_vip": boolean(hv["llmstack_gateway_holds_vip"], strict=False)
        if "llmstack_gateway_holds_vip" in hv
        else None,
    }


def _counts(tier, rows):
    counts = {"tier": tier, "hosts": len(rows)}
    for status in STATUSES:
        counts[status] = sum(1 for row in rows if row["health"] == status)
    return counts


def _vips(rows):
    """Each VIP the gateways reported on (sorted), with the hosts that hold it (one; none when no gateway does)."""
    vips = {}
    for row in rows:
        if row["vip"] and row["holds_vip"] is not None:
            holders = vips.setdefault(row["vip"], [])
            if row["holds_vip"]:
                holders.append(row["host"])
    return [{"address": address, "holders": holders} for address, holders in sorted(vips.items())]


def fleet_report_data(hostvars, hosts, play_hosts, inventory=None):
    """The report's data: rows of `hosts` (in that order), counts per tier and over the fleet."""
    if not isinstance(hostvars, Mapping):
        raise AnsibleFilterError(f"fleet_report_data expects hostvars, got {type(hostvars).__name__}")
    if not _is_list(hosts) or not _is_list(play_hosts):
        raise AnsibleFilterError("fleet_report_data: hosts and play_hosts must be lists of host names")
    play_hosts = {str(h) for h in play_hosts}
    rows = []
    for host in hosts:
        # Not .get(): Ansible's hostvars answer an unknown host with an undefined value, not a KeyError.
        hv = hostvars[host] if host in hostvars else {}  # noqa: SIM401
        rows.append(fleet_report_row(host, hv, str(host) in play_hosts))
    tiers = _unique_sorted(row["tier"] for row in rows)
    return {
        "vips": _vips(rows),
        "statuses": list(STATUSES),
        "rows": rows,
        "tiers": [_counts(tier, [row for row in rows if row["tier"] == tier]) for tier in tiers],
        "total": _counts("all", rows),
        "attention": [row for row in rows if row["health"] not in QUIET],
        "inventory": [str(source) for source in inventory or []],
    }


# The instant queries the role sends to Prometheus's /api/v1/query for the snapshot, by the name the filter reads
# each answer under. The series are the monitoring role's collector's (llmstack_*) and LiteLLM's counters; each
# answer is a vector whose `instance` label names the host (`<address>:<port>`, as the scrape targets do).
SNAPSHOT_QUERIES = {
    "gpu_info": "llmstack_gpu_info",
    "gpu_used": "llmstack_gpu_memory_used_bytes",
    "gpu_total": "llmstack_gpu_memory_total_bytes",
    "model_size": "llmstack_ollama_model_size_bytes",
    "model_vram": "llmstack_ollama_model_vram_bytes",
    "requests": "sum by (instance, requested_model) (litellm_proxy_total_requests_metric_total)",
    "failed": "sum by (instance, requested_model) (litellm_proxy_failed_requests_metric_total)",
}
MIB = 1024 * 1024


def _address(instance):
    """The host part of a target's `instance` ("gpu-box-01:9100" -> "gpu-box-01", "[fd00::1]:9100" -> "fd00::1")."""
    instance = str(instance)
    if instance.startswith("["):
        return instance[1:].partition("]")[0]
    if instance.count(":") == 1:
        return instance.partition(":")[0]
    return instance


def _host_names(hostvars, hosts):
    """Every name a host may have in a target's address (lower case) -> the host: its inventory name, ansible_host
    and llmstack_fleet_address. The first host that claims a name keeps it."""
    names = {}
    for host in hosts:
        hv = hostvars[host] if host in hostvars else {}  # noqa: SIM401
        for name in (host, hv.get("ansible_host"), hv.get("llmstack_fleet_address")):
            if name:
                names.setdefault(str(name).lower(), str(host))
    return names


def _vector(answer):
    """[(labels, value)] of an instant query's answer (the API's JSON, or uri's result holding it); [] otherwise."""
    if isinstance(answer, Mapping) and "json" in answer:
        answer = answer["json"]
    if isinstance(answer, Mapping) and "data" in answer:
        answer = answer["data"]
    result = answer.get("result") if isinstance(answer, Mapping) else None
    if not _is_list(result):
        return []
    samples = []
    for sample in result:
        if not isinstance(sample, Mapping) or not isinstance(sample.get("metric"), Mapping):
            continue
        value = sample.get("value")
        try:
            samples.append((dict(sample["metric"]), float(value[1])))
        except (TypeError, ValueError, IndexError):
            continue
    return samples


def _error(answer):
    """What went wrong with one answer of Prometheus, or "" when it answered."""
    if not isinstance(answer, Mapping):
        return "no answer"
    body = answer.get("json") if "json" in answer else answer
    if isinstance(body, Mapping) and body.get("status") == "success":
        return ""
    if isinstance(body, Mapping) and body.get("error"):
        return str(body["error"])
    return _text(answer.get("msg")) or f"HTTP {answer.get('status', 'error')}"


def _mib(value):
    return "?" if value is None else f"{value:,}"


def fleet_report_snapshot_urls(url):
    """[{key, url}] of every request the snapshot needs from the Prometheus at `url` (its base URL)."""
    base = str(url or "").rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise AnsibleFilterError(f"fleet_report_prometheus_url must be an http:// or https:// URL, got {url!r}")
    urls = [
        {"key": key, "url": f"{base}/api/v1/query?{urlencode({'query': expr})}"}
        for key, expr in SNAPSHOT_QUERIES.items()
    ]
    return [*urls, {"key": "alerts", "url": f"{base}/api/v1/alerts"}]


def _share(part, whole):
    return f"{round(100 * part / whole)} %" if whole > 0 else "?"


def fleet_report_snapshot(answers, hostvars, hosts, source=""):
    """Per host, GPU memory, loaded models and requests per model, and the alerts firing, from Prometheus's answers
    (`answers`: each SNAPSHOT_QUERIES name's /api/v1/query answer, and `alerts`: /api/v1/alerts' answer)."""
    if not isinstance(answers, Mapping):
        raise AnsibleFilterError(f"fleet_report_snapshot expects a mapping of answers, got {type(answers).__name__}")
    if not isinstance(hostvars, Mapping) or not _is_list(hosts):
        raise AnsibleFilterError("fleet_report_snapshot: hostvars must be hostvars and hosts a list of host names")
    hosts = [str(h) for h in hosts]
    names = _host_names(hostvars, hosts)
    errors = _unique_sorted(
        f"{key}: {problem}"
        for key in [*SNAPSHOT_QUERIES, "alerts"]
        for problem in [_error(answers.get(key))]
        if problem
    )
    unmatched = set()

    def host_of(labels):
        host = names.get(_address(labels.get("instance", "")).lower())
        if host is None and labels.get("instance"):
            unmatched.add(str(labels["instance"]))
        return host

    per_host = {host: {"gpus": {}, "models": {}, "requests": {}} for host in hosts}
    for key, field in (("gpu_info", "name"), ("gpu_used", "used"), ("gpu_total", "total")):
        for labels, value in _vector(answers.get(key)):
            host = host_of(labels)
            if host is None:
                continue
            card = per_host[host]["gpus"].setdefault(_text(labels.get("gpu")), {"gpu": _text(labels.get("gpu"))})
            card[field] = _text(labels.get("name")) if field == "name" else value
    for key in ("model_size", "model_vram"):
        for labels, value in _vector(answers.get(key)):
            host = host_of(labels)
            if host is not None:
                model = _text(labels.get("model"))
                per_host[host]["models"].setdefault(model, {"model": model})[key[6:]] = value
    for key in ("requests", "failed"):
        for labels, value in _vector(answers.get(key)):
            host = host_of(labels)
            if host is not None:
                model = _text(labels.get("requested_model")) or "(none)"
                entry = per_host[host]["requests"].setdefault(model, {"model": model, "requests": 0, "failed": 0})
                entry[key] = int(value)

    rows = []
    for host in hosts:
        snapshot = per_host[host]
        gpus = []
        for card in sorted(snapshot["gpus"].values(), key=lambda c: (_int(c["gpu"]), c["gpu"])):
            used, total = card.get("used"), card.get("total")
            gpus.append({
                "gpu": card["gpu"],
                "name": card.get("name", ""),
                "used_mib": None if used is None else round(used / MIB),
                "total_mib": None if total is None else round(total / MIB),
                "used": _share(used, total) if used is not None and total is not None else "?",
            })  # fmt: skip
        models = []
        for model in sorted(snapshot["models"].values(), key=lambda m: m["model"].lower()):
            size, vram = model.get("size", 0), model.get("vram", 0)
            where = "CPU" if vram == 0 else ("GPU" if vram >= size else f"GPU {_share(vram, size)}, CPU the rest")
            models.append({"model": model["model"], "size_mib": round(size / MIB), "vram_mib": round(vram / MIB),
                           "runs_on": where})  # fmt: skip
        requests = sorted(snapshot["requests"].values(), key=lambda r: r["model"].lower())
        rows.append({
            "host": host,
            "gpus": gpus,
            "models": models,
            "requests": requests,
            # What the report shows: "" where Prometheus has nothing for the host.
            "gpu_text": "; ".join(
                f"GPU {g['gpu']}: {_mib(g['used_mib'])} / {_mib(g['total_mib'])} MiB ({g['used']})" for g in gpus
            ),
            "models_text": ", ".join(f"{m['model']} ({m['size_mib']:,} MiB, {m['runs_on']})" for m in models),
            "requests_text": ", ".join(
                f"{r['model']} {r['requests']:,}" + (f" ({r['failed']:,} failed)" if r["failed"] else "")
                for r in requests
            ),
        })  # fmt: skip

    alerts = []
    alerts_answer = answers.get("alerts")
    if isinstance(alerts_answer, Mapping) and "json" in alerts_answer:
        alerts_answer = alerts_answer["json"]
    if isinstance(alerts_answer, Mapping) and "data" in alerts_answer:
        alerts_answer = alerts_answer["data"]
    listed = alerts_answer.get("alerts") if isinstance(alerts_answer, Mapping) else None
    for alert in listed if _is_list(listed) else []:
        if not isinstance(alert, Mapping) or alert.get("state") != "firing":
            continue
        labels = alert.get("labels") if isinstance(alert.get("labels"), Mapping) else {}
        annotations = alert.get("annotations") if isinstance(alert.get("annotations"), Mapping) else {}
        instance = _text(labels.get("instance"))
        alerts.append({
            "alert": _text(labels.get("alertname")),
            "severity": _text(labels.get("severity")),
            "host": (names.get(_address(instance).lower()) or instance) if instance else "",
            "summary": _text(annotations.get("summary")),
            "since": _text(alert.get("activeAt")),
        })  # fmt: skip
    alerts.sort(key=lambda a: (a["severity"] != "critical", a["alert"], a["host"], a["summary"]))
    return {
        "source": str(source),
        "errors": errors,
        "rows": rows,
        "alerts": alerts,
        "unmatched": sorted(unmatched),
    }


def fleet_report_digests(texts, formats):
    """The digest each format's report already there carries ('none' where there is no report or no digest),
    from the text of the files found, by path (fleet-report.FORMAT)."""
    if not isinstance(texts, Mapping):
        raise AnsibleFilterError(f"fleet_report_digests expects texts by path, got {type(texts).__name__}")
    if isinstance(formats, str) or not isinstance(formats, (list, tuple)):
        raise AnsibleFilterError("fleet_report_digests: formats must be a list of report formats")
    by_format = {posixpath.basename(str(path)).removeprefix("fleet-report."): text for path, text in texts.items()}
    digests = {}
    for fmt in formats:
        found = REPORT_DIGEST.search(_text(by_format.get(fmt, "")))
        digests[fmt] = found.group(1) if found else "none"
    return digests


class FilterModule:
    def filters(self):
        return {
            "fleet_report_data": fleet_report_data,
            "fleet_report_digests": fleet_report_digests,
            "fleet_report_snapshot": fleet_report_snapshot,
            "fleet_report_snapshot_urls": fleet_report_snapshot_urls,
        }
