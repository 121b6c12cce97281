"""What the scenarios' testinfra tests share to reach a converged workstation's gateway from the test host."""

import json
import os
import ssl
import subprocess
import urllib.error
import urllib.request

STACK = "/opt/litellm-stack"


def lab_ca():
    """The lab CA's certificate that the converge made beside molecule's inventory (the file clients trust)."""
    return os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "inventory", ".llmstack-ca", "ca.crt")


def tls_context(cafile=None):
    """A client's verification, trusting only the lab CA: as strict as the openai SDK with SSL_CERT_FILE set."""
    return ssl.create_default_context(cafile=cafile or lab_ca())


def container_address(name):
    """A workstation container's address as other machines on its network see it."""
    out = subprocess.run(
        ["docker", "inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", name],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return out[0]


def workstation_address(host):
    return container_address(host.backend.get_hostname())


def read_master_key(host, stack=STACK):
    env = host.file(f"{stack}/.env").content_string
    line = next(line for line in env.splitlines() if line.startswith("LITELLM_MASTER_KEY="))
    return line.split("=", 1)[1].strip("'")


def call(url, payload=None, key=None):
    """(status, parsed JSON) for a 2xx answer, (status, body text) otherwise."""
    request = urllib.request.Request(url, data=json.dumps(payload).encode() if payload else None)
    request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    context = tls_context() if url.startswith("https://") else None
    try:
        with urllib.request.urlopen(request, timeout=120, context=context) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
