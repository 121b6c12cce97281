"""The gateway certificate's names, and the checks that refuse plain HTTP beyond loopback."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.llmstack.gateway.plugins.filter.tls import tls_input_problems, tls_subject_alt_names

CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
KEY = "-----BEGIN EC PRIVATE KEY-----\nsecret-material\n-----END EC PRIVATE KEY-----\n"


def test_names_and_addresses_become_san_entries_once_in_order():
    names = [
        "GPU-01.lab.",
        "10.0.0.5",
        None,
        "",
        "gpu-01.lab",
        "[fe80::1]",
        "::1",
        "localhost",
        "127.0.0.1",
        "10.0.0.5",
    ]
    assert tls_subject_alt_names(names) == [
        "DNS:gpu-01.lab",
        "IP:10.0.0.5",
        "IP:fe80::1",
        "IP:::1",
        "DNS:localhost",
        "IP:127.0.0.1",
    ]


def test_a_wildcard_name_is_kept():
    assert tls_subject_alt_names(["*.gpu.lab"]) == ["DNS:*.gpu.lab"]


@pytest.mark.parametrize("bad", ["gpu 01", "under_score.lab", "-dash.lab", "a" * 64 + ".lab"])
def test_a_value_that_is_neither_a_name_nor_an_address_is_named(bad):
    with pytest.raises(AnsibleFilterError, match="neither an IP address nor a DNS name"):
        tls_subject_alt_names([bad])


def test_a_single_string_is_not_a_list_of_names():
    with pytest.raises(AnsibleFilterError, match="expects a list"):
        tls_subject_alt_names("gpu-01.lab")


def settings(**given):
    base = {
        "litellm_stack_tls": True,
        "litellm_stack_litellm_bind_address": "0.0.0.0",
        "litellm_stack_tls_certificate": "",
        "litellm_stack_tls_private_key": "",
        "litellm_stack_tls_ca_certificate": "",
    }
    base.update(given)
    return base


def test_the_default_lab_ca_settings_hold_together():
    assert tls_input_problems(settings()) == []


@pytest.mark.parametrize("bind", ["0.0.0.0", "::", "10.0.0.5", "gateway.lab"])
def test_plain_http_beyond_loopback_is_refused(bind):
    (problem,) = tls_input_problems(settings(litellm_stack_tls=False, litellm_stack_litellm_bind_address=bind))
    assert problem.startswith(f"litellm_stack_tls is false while litellm_stack_litellm_bind_address is {bind}:")


@pytest.mark.parametrize("bind", ["127.0.0.1", "127.0.1.1", "::1", "[::1]", "localhost"])
def test_plain_http_on_loopback_is_allowed(bind):
    assert tls_input_problems(settings(litellm_stack_tls=False, litellm_stack_litellm_bind_address=bind)) == []


def test_a_certificate_without_its_key_is_refused_and_the_reverse():
    (problem,) = tls_input_problems(settings(litellm_stack_tls_certificate=CERT))
    assert problem.startswith("litellm_stack_tls_certificate is set but litellm_stack_tls_private_key is empty")
    (problem,) = tls_input_problems(settings(litellm_stack_tls_private_key=KEY))
    assert problem.startswith("litellm_stack_tls_private_key is set but litellm_stack_tls_certificate is empty")


def test_an_inventory_certificate_with_its_key_and_ca_holds_together():
    given = settings(
        litellm_stack_tls_certificate=CERT, litellm_stack_tls_private_key=KEY, litellm_stack_tls_ca_certificate=CERT
    )
    assert tls_input_problems(given) == []


def test_what_is_not_pem_is_named_and_the_key_never_quoted():
    problems = tls_input_problems(
        settings(
            litellm_stack_tls_certificate="not a cert",
            litellm_stack_tls_private_key="secret-material",
            litellm_stack_tls_ca_certificate="nope",
        )
    )
    assert [p.split(" ", 1)[0] for p in problems] == [
        "litellm_stack_tls_certificate",
        "litellm_stack_tls_private_key",
        "litellm_stack_tls_ca_certificate",
    ]
    assert not any("secret-material" in p for p in problems)


def test_a_ca_without_an_inventory_certificate_is_refused():
    (problem,) = tls_input_problems(settings(litellm_stack_tls_ca_certificate=CERT))
    assert problem.startswith("litellm_stack_tls_ca_certificate is set without litellm_stack_tls_certificate")
