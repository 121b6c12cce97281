"""The workstation's lab-facing surface, as a client on the lab network sees it: the gateway alone, over TLS
that the lab CA's certificate verifies (the default scenario's -vvv run checks that no key is printed). The
clients are the openai SDK (written by nobody here) and Python's own ssl/urllib."""

import http.client
import socket
import ssl
import sys
import urllib.error
import urllib.request
from pathlib import Path

import openai
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from gateway_client import lab_ca, read_master_key, tls_context, workstation_address
from port_scan import open_tcp_ports

STACK = "/opt/litellm-stack"
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def address(host):
    return workstation_address(host)


@pytest.fixture(scope="module")
def client(address, host):
    """The openai SDK as the README shows it: base_url on the gateway, the lab CA as its only trust."""
    http_client = openai.DefaultHttpxClient(verify=ssl.create_default_context(cafile=lab_ca()))
    return openai.OpenAI(
        base_url=f"https://{address}:4444/v1", api_key=read_master_key(host, STACK), http_client=http_client
    )


def test_the_openai_sdk_chats_over_tls(client):
    answer = client.chat.completions.create(
        model="tinyllama", messages=[{"role": "user", "content": "Say hello"}], max_tokens=8
    )
    assert answer.choices[0].message.content


def test_the_openai_sdk_streams_over_tls(client):
    stream = client.chat.completions.create(
        model="tinyllama", messages=[{"role": "user", "content": "Count to three"}], max_tokens=8, stream=True
    )
    pieces = [chunk.choices[0].delta.content for chunk in stream if chunk.choices and chunk.choices[0].delta.content]
    assert len(pieces) > 1, pieces  # streamed in pieces, not one answer
    assert "".join(pieces)


def test_the_openai_sdk_embeds_over_tls(client):
    result = client.embeddings.create(model="bge-m3", input=["a lab full of GPUs"])
    assert len(result.data) == 1
    assert len(result.data[0].embedding) > 100


def test_plain_http_on_the_lab_address_gets_no_answer(address):
    connection = http.client.HTTPConnection(address, 4444, timeout=10)
    with pytest.raises((http.client.HTTPException, ConnectionError)):
        connection.request("GET", "/health/liveliness")
        connection.getresponse()


def test_a_client_that_does_not_trust_the_lab_ca_is_stopped(address):
    # The system's trust store: a public CA never signed the lab's certificate.
    with pytest.raises(urllib.error.URLError) as refused:
        urllib.request.urlopen(
            f"https://{address}:4444/health/liveliness", timeout=10, context=ssl.create_default_context()
        )
    assert isinstance(refused.value.reason, ssl.SSLCertVerificationError)


def tls_handshake(address):
    """The gateway's certificate and TLS version, verified against the lab CA for this address."""
    raw = socket.create_connection((address, 4444), timeout=10)
    with tls_context().wrap_socket(raw, server_hostname=address) as tls:
        return tls.getpeercert(), tls.version()


def test_the_gateway_certificate_names_the_address_and_comes_from_the_lab_ca(address):
    certificate, _version = tls_handshake(address)
    assert ("IP Address", address) in certificate["subjectAltName"]
    issuer = dict(part[0] for part in certificate["issuer"])
    assert issuer["commonName"] == "llmstack lab CA"


def test_a_scan_of_every_tcp_port_finds_only_the_gateway_and_only_over_tls(address):
    assert open_tcp_ports(address, range(1, 65536)) == [4444]
    _certificate, version = tls_handshake(address)
    assert version in {"TLSv1.2", "TLSv1.3"}
