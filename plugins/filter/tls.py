# Copyright: contributors to llmstack.gateway
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The names a certificate is issued for, the TLS settings' checks, and whether an issued certificate still fits
(each documented in the .yml of its name next to this one)."""

from __future__ import annotations

import datetime
import ipaddress
import re

from ansible.errors import AnsibleFilterError

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
except ImportError as exc:
    CRYPTOGRAPHY_IMPORT_ERROR = exc
else:
    CRYPTOGRAPHY_IMPORT_ERROR = None

# A DNS name as a certificate may carry it: labels of letters, digits and hyphens, optionally one leading "*.".
LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
DNS_NAME = re.compile(rf"^(\*\.)?{LABEL}(\.{LABEL})*\.?$")


def subject_alt_name(value):
    """'IP:<address>' or 'DNS:<name>' for one name or address; None for an empty one."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    # Compose's and URLs' bracketed IPv6 form.
    bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        return "IP:" + str(ipaddress.ip_address(bare))
    except ValueError:
        pass
    if len(text) > 253 or not DNS_NAME.match(text):
        raise AnsibleFilterError(f"tls_subject_alt_names: {text!r} is neither an IP address nor a DNS name")
    return "DNS:" + text.rstrip(".").lower()


def tls_subject_alt_names(values):
    """subjectAltName entries for every name and address given, each once, in the order given."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise AnsibleFilterError("tls_subject_alt_names expects a list of names and addresses")
    entries = []
    for value in values:
        entry = subject_alt_name(value)
        if entry and entry not in entries:
            entries.append(entry)
    return entries


def _is_loopback(address):
    text = str(address).strip()
    bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    if bare == "localhost":
        return True
    try:
        return ipaddress.ip_address(bare).is_loopback
    except ValueError:
        return False


def tls_input_problems(settings):
    """One sentence per problem with the gateway's TLS settings; an empty list when they hold together.

    A PEM's content is never quoted: the private key is a secret, and the certificate is long.
    """
    problems = []
    tls = bool(settings.get("litellm_stack_tls", True))
    bind = settings.get("litellm_stack_litellm_bind_address", "")
    certificate = settings.get("litellm_stack_tls_certificate") or ""
    key = settings.get("litellm_stack_tls_private_key") or ""
    ca_certificate = settings.get("litellm_stack_tls_ca_certificate") or ""
    if not tls and not _is_loopback(bind):
        problems.append(
            f"litellm_stack_tls is false while litellm_stack_litellm_bind_address is {bind}: plain HTTP there would"
            " carry the master key and every prompt in clear text on the network. Keep litellm_stack_tls on, or bind"
            " the gateway to 127.0.0.1."
        )
    if not tls:
        return problems
    if bool(certificate) != bool(key):
        given, missing = (
            ("litellm_stack_tls_certificate", "litellm_stack_tls_private_key")
            if certificate
            else ("litellm_stack_tls_private_key", "litellm_stack_tls_certificate")
        )
        problems.append(
            f"{given} is set but {missing} is empty: give both (the key from a vault), or neither for a certificate"
            " from the lab CA."
        )
    if certificate and "-----BEGIN CERTIFICATE-----" not in certificate:
        problems.append("litellm_stack_tls_certificate is not a PEM certificate (no BEGIN CERTIFICATE line).")
    if key and "PRIVATE KEY-----" not in key:
        problems.append("litellm_stack_tls_private_key is not a PEM private key (no BEGIN ... PRIVATE KEY line).")
    if ca_certificate and "-----BEGIN CERTIFICATE-----" not in ca_certificate:
        problems.append("litellm_stack_tls_ca_certificate is not a PEM certificate (no BEGIN CERTIFICATE line).")
    if ca_certificate and not certificate:
        problems.append(
            "litellm_stack_tls_ca_certificate is set without litellm_stack_tls_certificate: the lab CA verifies the"
            " certificates it issues itself; give the CA only with your own certificate."
        )
    return problems


def _san_entries(certificate):
    try:
        extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    entries = {"DNS:" + name.lower() for name in extension.get_values_for_type(x509.DNSName)}
    return entries | {"IP:" + str(address) for address in extension.get_values_for_type(x509.IPAddress)}


def _issued_by(certificate, ca):
    """Whether `ca` signed `certificate` (its name and its signature; RSA, EC and EdDSA CA keys)."""
    if certificate.issuer != ca.subject or not hasattr(certificate, "verify_directly_issued_by"):
        # cryptography before 40 cannot say: the community.crypto modules decide instead.
        return False
    try:
        certificate.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _valid_until(certificate):
    if hasattr(certificate, "not_valid_after_utc"):
        return certificate.not_valid_after_utc
    return certificate.not_valid_after.replace(tzinfo=datetime.timezone.utc)


def _valid_from(certificate):
    if hasattr(certificate, "not_valid_before_utc"):
        return certificate.not_valid_before_utc
    return certificate.not_valid_before.replace(tzinfo=datetime.timezone.utc)


def tls_certificate_fits(certificate_pem, ca_certificate_pem, common_name, names, renew_days, *, now=None):
    """Whether the certificate the lab CA issued earlier is still the one a run would keep.

    It must be signed by this CA, name exactly `common_name` and the subjectAltName entries `names`, serve
    (serverAuth, not a CA), and be valid, like its CA, for `renew_days` more days. Anything missing or
    unreadable does not fit: the run then goes through community.crypto's modules, which decide in full.
    """
    if not certificate_pem or not ca_certificate_pem:
        return False
    if CRYPTOGRAPHY_IMPORT_ERROR:
        raise AnsibleFilterError(
            "tls_certificate_fits needs the Python library cryptography on the controller, as community.crypto "
            f"does: install it into the Python that runs ansible-playbook ({CRYPTOGRAPHY_IMPORT_ERROR})"
        )
    try:
        certificate = x509.load_pem_x509_certificate(str(certificate_pem).encode())
        ca = x509.load_pem_x509_certificate(str(ca_certificate_pem).encode())
        usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except (ValueError, x509.ExtensionNotFound):
        return False
    moment = now or datetime.datetime.now(datetime.timezone.utc)
    renewal = moment + datetime.timedelta(days=int(renew_days))
    common_names = [attribute.value for attribute in certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    return (
        _issued_by(certificate, ca)
        and common_names == [str(common_name)]
        and _san_entries(certificate) == set(names)
        and list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
        and not constraints.ca
        and _valid_from(certificate) <= moment
        and renewal < _valid_until(certificate)
        and renewal < _valid_until(ca)
    )


class FilterModule:
    def filters(self):
        return {
            "tls_subject_alt_names": tls_subject_alt_names,
            "tls_input_problems": tls_input_problems,
            "tls_certificate_fits": tls_certificate_fits,
        }
