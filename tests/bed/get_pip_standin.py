"""Offline stand-in for the get-pip.py bootstrap script that ansible-test downloads.

ansible-test fetches get-pip from its CI file host, which the test machines cannot reach. This
stand-in gives ansible-test the same result: pip bootstrapped from the interpreter's bundled
wheel, then upgraded to the version ansible-test asked for, from PyPI.
"""

import ensurepip
import os
import sys

GET_PIP_ONLY_SWITCHES = {"--no-setuptools", "--no-wheel"}


def main():
    ensurepip.bootstrap(upgrade=False)
    from pip._internal.cli.main import main as pip_main  # noqa: PLC0415 - pip exists only after bootstrap

    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_SWITCHES]
    # ansible-test does not pass pip's CA settings on; PyPI is reached through a TLS-inspecting proxy here.
    cert = os.environ.get("PIP_CERT") or "/etc/ssl/certs/ca-certificates.crt"
    if os.path.exists(cert):
        args = ["--cert", cert, *args]
    return pip_main(["install", *args])


if __name__ == "__main__":
    sys.exit(main())
