# Copyright: contributors to llmstack.gateway
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Prometheus's configuration and alert rules for the monitoring role (documented in monitoring_*.yml next to this
one)."""

from __future__ import annotations

import re
from collections.abc import Mapping

import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.llmstack.gateway.plugins.filter.fleet import fleet_address, url_host

_DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")
_LITELLM_ROLES = ("standalone", "gateway")


def _duration(value, name):
    text = str(value)
    if not _DURATION.match(text):
        raise AnsibleFilterError(f"{name} must be a Prometheus duration such as 30s, 5m or 1h, not {value!r}")
    return text


def _address(host_vars, name, monitoring_host):
    role = host_vars.get("llmstack_fleet_role") or "standalone"
    # A lone workstation's node-exporter listens on loopback only; Prometheus on the same host reaches it there.
    if name == monitoring_host and role == "standalone":
        return "127.0.0.1"
    return fleet_address(host_vars)


def monitoring_node_exporter_address(host_vars, monitoring_host):
    """Where this host's node-exporter listens, the address Prometheus's config scrapes it at: loopback on a lone
    workstation that monitors itself, else the host's fleet address ("" when it is not known)."""
    if not isinstance(host_vars, Mapping):
        raise AnsibleFilterError("monitoring_node_exporter_address needs a host's variables (hostvars[host])")
    return _address(host_vars, str(host_vars.get("inventory_hostname")), str(monitoring_host)) or ""


def _host_port(address, port):
    return f"{url_host(address)}:{port}"


def monitoring_prometheus_config(hosts, settings):
    """Prometheus's configuration for the monitored hosts, and what it needs beside it.

    hosts: the monitored hosts' variables (hostvars[host] each). settings: monitoring_host, node_exporter_port,
    scrape_interval, evaluation_interval, rule_files, secrets_dir (where Prometheus finds each gateway's token and
    CA, as <host>.token and <host>.ca.crt) and host_secrets_dir (the same directory on the host).
    Returns config (the dict for prometheus.yml), secret_files (dest, kind token or ca, host: the files to write
    beside it) and missing (hosts whose address or LiteLLM scrape settings this run does not know)."""
    if not isinstance(settings, Mapping):
        raise AnsibleFilterError("monitoring_prometheus_config needs its settings as a dict")
    monitoring_host = settings["monitoring_host"]
    port = int(settings["node_exporter_port"])
    secrets = str(settings["secrets_dir"]).rstrip("/")
    node_targets, litellm_jobs, secret_files, missing = [], [], [], []
    for host_vars in hosts:
        if not isinstance(host_vars, Mapping):
            raise AnsibleFilterError("monitoring_targets must name inventory hosts")
        name = str(host_vars.get("inventory_hostname"))
        address = _address(host_vars, name, monitoring_host)
        if not address:
            missing.append(name)
            continue
        node_targets.append({"targets": [_host_port(address, port)], "labels": {"instance": name}})
        role = host_vars.get("llmstack_fleet_role") or "standalone"
        if role not in _LITELLM_ROLES:
            continue
        if "llmstack_litellm_metrics" not in host_vars:
            missing.append(name)
            continue
        metrics = host_vars.get("llmstack_litellm_metrics")
        if not metrics:
            continue  # LiteLLM's /metrics is switched off there (litellm_stack_prometheus_metrics)
        url = str(metrics["local_url"] if name == monitoring_host else metrics["url"])
        match = re.match(r"^(https?)://([^/]+)(/.*)$", url)
        if not match:
            raise AnsibleFilterError(f"llmstack_litellm_metrics of {name} has no usable url: {url!r}")
        scheme, target, path = match.groups()
        job = {
            # One job per gateway (each has its own master key); the label stays "litellm", which the rules read.
            "job_name": f"litellm-{name}",
            "scheme": scheme,
            "metrics_path": path,
            "authorization": {"type": "Bearer", "credentials_file": f"{secrets}/{name}.token"},
            "static_configs": [{"targets": [target], "labels": {"instance": name}}],
            "relabel_configs": [{"target_label": "job", "replacement": "litellm"}],
        }
        if scheme == "https":
            tls = {}
            if metrics.get("ca_pem"):
                tls["ca_file"] = f"{secrets}/{name}.ca.crt"
            if metrics.get("server_name"):
                tls["server_name"] = str(metrics["server_name"])
            if tls:
                job["tls_config"] = tls
        litellm_jobs.append(job)
        secret_files.append({"dest": f"{settings['host_secrets_dir']}/{name}.token", "kind": "token", "host": name})
        if metrics.get("ca_pem") and scheme == "https":
            secret_files.append({"dest": f"{settings['host_secrets_dir']}/{name}.ca.crt", "kind": "ca", "host": name})
    config = {
        "global": {
            "scrape_interval": _duration(settings["scrape_interval"], "monitoring_scrape_interval"),
            "evaluation_interval": _duration(settings["evaluation_interval"], "monitoring_evaluation_interval"),
        },
        "rule_files": list(settings["rule_files"]),
        "scrape_configs": [{"job_name": "node", "static_configs": node_targets}, *litellm_jobs],
    }
    return {"config": config, "secret_files": secret_files, "missing": missing}


class _LiteralDumper(yaml.SafeDumper):
    pass


def _literal(dumper, text):
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_LiteralDumper.add_representer(str, _literal)


def monitoring_alert_rules(text, for_overrides=None):
    """The shipped rules file, with the `for:` of the alerts named in for_overrides replaced (shorter waits in
    tests, longer ones on a noisy lab). No overrides: the file as shipped, byte for byte."""
    if not for_overrides:
        return str(text)
    if not isinstance(for_overrides, Mapping):
        raise AnsibleFilterError("monitoring_alert_for must map alert names to durations")
    rules = yaml.safe_load(str(text))
    known = {rule.get("alert") for group in rules["groups"] for rule in group["rules"]}
    unknown = sorted(set(map(str, for_overrides)) - known)
    if unknown:
        raise AnsibleFilterError(
            f"monitoring_alert_for names no such alert: {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )
    for group in rules["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") in for_overrides:
                rule["for"] = _duration(for_overrides[rule["alert"]], f"monitoring_alert_for.{rule['alert']}")
    return yaml.dump(rules, Dumper=_LiteralDumper, sort_keys=False, width=1000, allow_unicode=True)


class FilterModule:
    def filters(self):
        return {
            "monitoring_prometheus_config": monitoring_prometheus_config,
            "monitoring_alert_rules": monitoring_alert_rules,
            "monitoring_node_exporter_address": monitoring_node_exporter_address,
        }
