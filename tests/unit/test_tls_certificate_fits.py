"""tls_certificate_fits: when a re-run may keep the certificate the lab CA issued earlier (and skip issuing)."""

import datetime
import ipaddress

import pytest
from ansible_collections.llmstack.gateway.plugins.filter.tls import tls_certificate_fits
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)
DAY = datetime.timedelta(days=1)
NAMES = ["DNS:gw1", "IP:10.0.0.5", "DNS:localhost", "IP:127.0.0.1", "IP:::1"]


def pem(certificate):
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def make_ca(name="llmstack lab CA", days=3650):
    key = ec.generate_private_key(ec.SECP384R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + days * DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    return certificate, key


def issue(ca, ca_key, *, common_name="gw1", names=NAMES, days=825, usage=ExtendedKeyUsageOID.SERVER_AUTH, is_ca=False):
    key = ec.generate_private_key(ec.SECP384R1())
    entries = [
        x509.IPAddress(ipaddress.ip_address(n[3:])) if n.startswith("IP:") else x509.DNSName(n[4:]) for n in names
    ]
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + days * DAY)
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=False)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if entries:
        builder = builder.add_extension(x509.SubjectAlternativeName(entries), critical=False)
    return pem(builder.sign(ca_key, hashes.SHA256()))


@pytest.fixture(scope="module")
def lab_ca():
    return make_ca()


def fits(certificate, ca, common_name="gw1", names=NAMES, renew_days=30):
    return tls_certificate_fits(certificate, pem(ca), common_name, names, renew_days, now=NOW)


def test_the_certificate_the_ca_issued_for_these_names_fits(lab_ca):
    ca, key = lab_ca
    assert fits(issue(ca, key), ca)
    # The order of the names does not matter, nor the case of a DNS name.
    assert fits(issue(ca, key, names=[n.upper() if n.startswith("DNS:") else n for n in reversed(NAMES)]), ca)


def test_a_certificate_of_another_ca_with_the_same_name_does_not_fit(lab_ca):
    ca, _key = lab_ca
    other, other_key = make_ca()  # same subject, another key: a CA made anew
    assert not fits(issue(other, other_key), ca)


@pytest.mark.parametrize(
    "names",
    [[*NAMES, "IP:10.0.0.6"], NAMES[1:], [*(n for n in NAMES if n != "IP:::1"), "IP:::2"]],
    ids=["a-new-address", "a-name-gone", "an-address-changed"],
)
def test_a_certificate_for_other_names_does_not_fit(lab_ca, names):
    ca, key = lab_ca
    assert not fits(issue(ca, key), ca, names=names)


def test_a_certificate_for_another_host_does_not_fit(lab_ca):
    ca, key = lab_ca
    assert not fits(issue(ca, key, common_name="gw2"), ca)


def test_a_certificate_about_to_expire_does_not_fit(lab_ca):
    ca, key = lab_ca
    certificate = issue(ca, key, days=20)
    assert not fits(certificate, ca, renew_days=30)
    assert fits(certificate, ca, renew_days=10)


def test_nothing_fits_under_a_ca_about_to_expire():
    ca, key = make_ca(days=20)
    assert not fits(issue(ca, key, days=15), ca, renew_days=30)


@pytest.mark.parametrize(
    ("usage", "is_ca"),
    [(ExtendedKeyUsageOID.CLIENT_AUTH, False), (ExtendedKeyUsageOID.SERVER_AUTH, True)],
    ids=["client-certificate", "a-ca"],
)
def test_only_a_server_certificate_fits(lab_ca, usage, is_ca):
    ca, key = lab_ca
    assert not fits(issue(ca, key, usage=usage, is_ca=is_ca), ca)


@pytest.mark.parametrize("certificate", ["", None, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"])
def test_a_missing_or_unreadable_certificate_does_not_fit(lab_ca, certificate):
    ca, _key = lab_ca
    assert not fits(certificate, ca)


def test_without_the_ca_nothing_fits(lab_ca):
    ca, key = lab_ca
    assert not tls_certificate_fits(issue(ca, key), "", "gw1", NAMES, 30, now=NOW)
