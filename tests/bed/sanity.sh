#!/usr/bin/env bash
# Run ansible-test sanity on the collection's plugins, in a temporary
# ansible_collections/llmstack/gateway tree (ansible-test insists on that layout and on git).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
python_version=${LLMSTACK_SANITY_PYTHON:-3.11}

# ansible-test bootstraps pip in each sanity venv with a get-pip script from a host we cannot reach;
# the file name follows the pip version this ansible-test pins.
pip_version=$(python3 - <<'PY'
import re, ansible_test, pathlib
src = (pathlib.Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py").read_text()
print(re.search(r"pip='([0-9.]+)'", src).group(1))
PY
)
cache=~/.ansible/test/cache
mkdir -p "$cache"
cp "$here/get_pip_standin.py" "$cache/get_pip_${pip_version//./_}.py"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dest=$work/ansible_collections/llmstack/gateway
mkdir -p "$dest"
for item in galaxy.yml meta plugins README.md LICENSE tests/sanity; do
  if [ -e "$top/$item" ]; then
    mkdir -p "$dest/$(dirname "$item")"
    cp -r "$top/$item" "$dest/$item"
  fi
done
find "$dest" -name __pycache__ -prune -exec rm -rf {} +
git -C "$dest" init -q
git -C "$dest" add -A

cd "$dest"
ansible-test sanity --python "$python_version" --requirements --color no "$@"
