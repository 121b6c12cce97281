#!/bin/sh
# Build a signed, flat apt repository of STAND-IN NVIDIA Container Toolkit packages, laid out like
# NVIDIA's own (<root>/libnvidia-container/stable/deb/<arch>/ and <root>/libnvidia-container/gpgkey),
# so the nvidia_container_toolkit role installs from it exactly as from a lab mirror of NVIDIA's.
# The packages are NOT NVIDIA's: they hold small scripts (nvidia-ctk, nvidia-container-runtime that
# execs runc, and an OCI hook that records its call and gives the container the simulated nvidia-smi,
# see stand-in-nvidia-container-runtime-hook.py) so Docker can be configured and run containers through them.
# Usage: build-stand-in-nvidia-repo.sh ROOT VERSION...
# (runs inside the workstation, next to stand-in-nvidia-container-runtime-hook.py; needs dpkg-deb and gpg)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$1
shift
arch=$(dpkg --print-architecture)
repo=$root/libnvidia-container/stable/deb/$arch
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$repo"

stand_in_package() { # name version depends description
  name=$1 version=$2 depends=$3 description=$4
  dir=$work/$name-$version
  mkdir -p "$dir/DEBIAN" "$dir/usr/share/doc/$name"
  {
    echo "Package: $name"
    echo "Version: $version"
    echo "Architecture: $arch"
    echo "Maintainer: llmstack.gateway tests <tests@llmstack.invalid>"
    [ -n "$depends" ] && echo "Depends: $depends"
    echo "Section: utils"
    echo "Priority: optional"
    echo "Description: STAND-IN for tests, not NVIDIA's package: $description"
    echo " Built by the llmstack.gateway molecule scenarios for a simulated GPU host."
  } >"$dir/DEBIAN/control"
  echo "Stand-in $name $version for the llmstack.gateway molecule scenarios; not NVIDIA software." \
    >"$dir/usr/share/doc/$name/STAND-IN"
}

script() { # package-dir path body
  mkdir -p "$(dirname "$1$2")"
  printf '#!/bin/sh\n# STAND-IN for tests (llmstack.gateway molecule scenarios), not NVIDIA software.\n%s\n' "$3" >"$1$2"
  chmod 0755 "$1$2"
}

for version in "$@"; do
  upstream=${version%-*}

  stand_in_package libnvidia-container1 "$version" "" "NVIDIA container runtime library"

  stand_in_package libnvidia-container-tools "$version" "libnvidia-container1 (= $version)" \
    "NVIDIA container runtime library (command-line tools)"
  script "$work/libnvidia-container-tools-$version" /usr/bin/nvidia-container-cli \
    "echo \"cli-version: $upstream (stand-in)\""

  stand_in_package nvidia-container-toolkit-base "$version" "" "NVIDIA Container Toolkit Base"
  script "$work/nvidia-container-toolkit-base-$version" /usr/bin/nvidia-container-runtime 'exec runc "$@"'
  script "$work/nvidia-container-toolkit-base-$version" /usr/bin/nvidia-ctk "$(cat <<CTK
case "\$1" in
  --version|-v) echo "NVIDIA Container Toolkit CLI version $upstream (stand-in)" ;;
  cdi)
    [ "\$2" = generate ] || { echo "stand-in nvidia-ctk: only 'cdi generate' is simulated" >&2; exit 2; }
    out=/dev/stdout
    for arg in "\$@"; do case "\$arg" in --output=*) out=\${arg#--output=} ;; esac; done
    printf 'cdiVersion: 0.5.0\nkind: nvidia.com/gpu\n# STAND-IN CDI spec for a simulated GPU\ndevices:\n  - name: all\n    containerEdits: {}\ncontainerEdits: {}\n' >"\$out" ;;
  *) echo "stand-in nvidia-ctk: '\$*' is not simulated" >&2; exit 2 ;;
esac
CTK
)"

  stand_in_package nvidia-container-toolkit "$version" \
    "nvidia-container-toolkit-base (= $version), libnvidia-container-tools (>= $version)" "NVIDIA Container Toolkit"
  # dockerd registers its `nvidia` device driver only when this is on PATH, and runs it as an OCI
  # prestart hook for --gpus / compose GPU reservations (moby daemon/nvidia_linux.go).
  mkdir -p "$work/nvidia-container-toolkit-$version/usr/bin"
  install -m 0755 "$here/stand-in-nvidia-container-runtime-hook.py" \
    "$work/nvidia-container-toolkit-$version/usr/bin/nvidia-container-runtime-hook"

  for dir in "$work"/*-"$version"; do
    package=$(basename "$dir" "-$version")
    dpkg-deb --root-owner-group --build "$dir" "$repo/${package}_${version}_$arch.deb" >/dev/null
  done
done

cd "$repo"
: >Packages
for deb in *.deb; do
  {
    dpkg-deb --field "$deb"
    echo "Filename: ./$deb"
    echo "Size: $(stat -c %s "$deb")"
    echo "SHA256: $(sha256sum "$deb" | cut -d' ' -f1)"
    echo
  } >>Packages
done
gzip -9nkf Packages

{
  echo "Origin: llmstack.gateway tests"
  echo "Label: STAND-IN NVIDIA Container Toolkit (tests)"
  echo "Date: $(LC_ALL=C date -u '+%a, %d %b %Y %H:%M:%S UTC')"
  echo "Architectures: $arch"
  echo "SHA256:"
  for index in Packages Packages.gz; do
    echo " $(sha256sum "$index" | cut -d' ' -f1) $(stat -c %s "$index") $index"
  done
} >Release

export GNUPGHOME="$work/gnupg"
mkdir -m 0700 "$GNUPGHOME"
gpg --batch --quiet --pinentry-mode loopback --passphrase '' \
  --quick-generate-key "llmstack.gateway tests: stand-in lab mirror key" ed25519 sign never
gpg --batch --quiet --yes --clearsign --output InRelease Release
gpg --batch --quiet --yes --armor --detach-sign --output Release.gpg Release
gpg --batch --quiet --armor --export >"$root/libnvidia-container/gpgkey"
