#!/usr/bin/env bash
# Give this machine an Ansible controller for this collection: a Python venv with the pinned ansible-core
# and community.docker (from the `ansible` package on PyPI, so Ansible Galaxy need not be reachable).
# Usage: scripts/install-controller.sh [VENV_DIR]     (default: .venv in this checkout, the one `make setup` uses)
# PYTHON picks the interpreter (default python3). Behind a TLS-inspecting proxy, point PIP_CERT at its CA bundle.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
venv=${1:-$repo/.venv}
python=${PYTHON:-python3}

fail() {
  echo "install-controller: $*" >&2
  exit 1
}

# apt-get as root only: a user's machine is changed by this script only where nothing else can work.
apt_install() {
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    fail "$1 is missing: install it (on Debian/Ubuntu: sudo apt-get install $*) and run this again"
  fi
  echo "install-controller: installing $* with apt-get"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

command -v "$python" >/dev/null || apt_install python3 python3-venv

# ansible-core 2.19 runs on Python 3.11 to 3.13 (the controller side; managed hosts need only Python 3).
version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
case "$version" in
  3.11 | 3.12 | 3.13) ;;
  *) fail "ansible-core 2.19 needs Python 3.11 to 3.13 on the controller; $python is $version (set PYTHON=python3.X)" ;;
esac

# Debian splits venv's pip bootstrap (ensurepip) into python3-venv; without it `python3 -m venv` fails half-way.
if [ ! -x "$venv/bin/pip" ] && ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
  apt_install python3-venv
fi

[ -x "$venv/bin/pip" ] || "$python" -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check \
  -r "$repo/requirements-controller.txt" -c "$repo/constraints-dev.txt"

echo
"$venv/bin/ansible-playbook" --version | head -n 1
"$venv/bin/ansible-galaxy" collection list community.docker 2>/dev/null | grep -E '^community\.docker ' ||
  fail "community.docker is not visible to ansible-galaxy in $venv"
cat <<EOF

Controller ready in $venv. Activate it, then run from this checkout:
  cd $repo
  . $venv/bin/activate
  ansible-playbook site.yml
EOF
