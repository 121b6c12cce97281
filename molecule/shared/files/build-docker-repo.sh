#!/bin/sh
# Build a signed apt repository of STAND-IN Docker CE packages, laid out like Docker's own
# (https://download.docker.com/linux/debian: dists/<codename>/{InRelease,Release,Release.gpg},
# dists/<codename>/stable/binary-<arch>/Packages(.gz), pool/stable/<arch>/*.deb and the armored key at
# /gpg), so the docker_engine role installs from it exactly as from a lab mirror of Docker's.
# The packages carry Docker's names and relationships (docker-ce, docker-ce-cli, containerd.io,
# docker-buildx-plugin, docker-compose-plugin) but hold the distribution's own binaries: Debian's
# docker.io, docker-cli, containerd + runc, docker-buildx and docker-compose, unpacked and re-controlled.
# They are NOT Docker's builds; tests/images/README.md ("Docker's repository (stand-in)") lists every
# difference from the real packages.
#
# Usage: build-docker-repo.sh ROOT   (runs inside the workstation; needs apt-get, dpkg-deb and gpg)
# Serve ROOT over HTTP (the scenarios use python3 -m http.server 8081 --bind 127.0.0.1 --directory ROOT)
# and point the role at it with
#   docker_engine_repo_url: http://127.0.0.1:8081/linux/debian
# (docker_engine_repo_key_url keeps its default, "{{ docker_engine_repo_url }}/gpg").
# Versions follow Docker's scheme on the upstream version of Debian's build, for example
# docker-ce 5:26.1.5-1~debian.13~trixie and containerd.io 1.7.24-1~debian.13~trixie.
set -eu

root=$1
arch=$(dpkg --print-architecture)
# shellcheck disable=SC1091 # the workstation's own release: ID, VERSION_ID, VERSION_CODENAME
. /etc/os-release
repo=$root/linux/$ID
pool=pool/stable/$arch
index=dists/$VERSION_CODENAME/stable/binary-$arch
suffix="-1~$ID.$VERSION_ID~$VERSION_CODENAME"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rm -rf "$repo"
mkdir -p "$repo/$pool" "$repo/$index" "$work/debs"

if ! apt-cache show docker.io >/dev/null 2>&1; then
  apt-get update -qq
fi
# As root into a private directory: apt's _apt sandbox user could not write there.
(cd "$work/debs" && apt-get download -qq -o APT::Sandbox::User=root \
  docker.io docker-cli containerd runc docker-buildx docker-compose)

deb() { echo "$work"/debs/"$1"_*.deb; }

# Debian's upstream version without epoch, Debian revision or repack suffix (+dfsg1, ~ds1): 26.1.5.
upstream() {
  v=$(dpkg-deb --field "$(deb "$1")" Version)
  v=${v#*:}
  v=${v%-*}
  echo "${v%%[+~]*}"
}

# Debian's Depends of the named packages (the shared-library ones), leaving out the Docker packages
# whose places the stand-ins take.
library_depends() {
  for package in "$@"; do
    dpkg-deb --field "$(deb "$package")" Depends | tr ',' '\n'
  done | sed 's/^ *//' | while read -r dep; do
    case ${dep%% *} in
      docker.io | docker-cli | containerd | runc | docker-buildx | docker-compose) ;;
      *) echo "$dep" ;;
    esac
  done | sort -u | paste -sd, - | sed 's/,/, /g'
}

# unpack NAME DEBIAN-PACKAGE...: the Debian packages in one tree (the first one's maintainer scripts and
# conffiles come along).
unpack() {
  name=$1
  shift
  dpkg-deb --raw-extract "$(deb "$1")" "$work/$name"
  shift
  for package in "$@"; do
    dpkg-deb --extract "$(deb "$package")" "$work/$name"
  done
}

# build NAME VERSION: Docker's relationship fields (stdin) into a fresh control file, then the .deb.
build() {
  name=$1 version=$2
  dir=$work/$name
  mkdir -p "$dir/usr/share/doc/$name"
  echo "Stand-in $name $version for the llmstack.gateway molecule scenarios: Debian's binaries, not Docker's build." \
    >"$dir/usr/share/doc/$name/STAND-IN"
  {
    echo "Package: $name"
    echo "Version: $version"
    echo "Architecture: $arch"
    echo "Maintainer: llmstack.gateway tests <tests@llmstack.invalid>"
    echo "Installed-Size: $(du -sk --exclude=DEBIAN "$dir" | cut -f1)"
    cat
    echo "Section: admin"
    echo "Priority: optional"
    echo "Description: STAND-IN for tests, not Docker's package: $name"
    echo " Debian's binaries under Docker's package name, built by the llmstack.gateway test bed."
  } >"$dir/DEBIAN/control"
  # Files were added or dropped, so the checksums are written again (without conffiles, as dh_md5sums).
  touch "$dir/DEBIAN/conffiles"
  (cd "$dir" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./|/|' | sort |
    grep -vxF -f DEBIAN/conffiles | sed 's|^/||' | xargs -r md5sum) >"$dir/DEBIAN/md5sums"
  [ -s "$dir/DEBIAN/conffiles" ] || rm "$dir/DEBIAN/conffiles"
  # Uncompressed: xz on ~350 MB of Go binaries takes minutes on the test machines, and apt reads either.
  dpkg-deb --root-owner-group -Znone --build "$dir" "$repo/$pool/${name}_${version#*:}_$arch.deb" >/dev/null
}

engine=5:$(upstream docker.io)$suffix

# Relationships as docker/docker-ce-packaging's deb/common/control declares them; containerd.io's as
# docker/containerd-packaging builds it. Debian's extra needs of its dockerd build (adduser for the
# postinst's addgroup, tini behind docker-init, sysvinit-utils) stay, since the binaries are Debian's.
unpack docker-ce docker.io
build docker-ce "$engine" <<EOF
Pre-Depends: init-system-helpers (>= 1.54~)
Depends: containerd.io (>= 1.6.24), docker-ce-cli, $(library_depends docker.io)
Recommends: apparmor, ca-certificates, docker-ce-rootless-extras, git, pigz, procps, xz-utils
Suggests: cgroupfs-mount | cgroup-lite, kmod
Conflicts: docker (<< 1.5~), docker-engine, docker.io
Replaces: docker-engine, docker-ce-cli (<< 5:28.0.0)
EOF

unpack docker-ce-cli docker-cli
build docker-ce-cli "$engine" <<EOF
Depends: $(library_depends docker-cli)
Recommends: docker-buildx-plugin, docker-compose-plugin
Conflicts: docker (<< 1.5~), docker-engine, docker.io
Replaces: docker-ce (<< 5:0)
Breaks: docker-ce (<< 5:0)
EOF

# Docker's containerd.io bundles runc, so it takes the place of both of Debian's packages.
unpack containerd.io containerd runc
build containerd.io "$(upstream containerd)$suffix" <<EOF
Depends: $(library_depends containerd runc)
Provides: containerd, runc
Conflicts: containerd, runc
Replaces: containerd, runc
EOF

unpack docker-buildx-plugin docker-buildx
build docker-buildx-plugin "$(upstream docker-buildx)$suffix" <<EOF
Depends: $(library_depends docker-buildx)
Enhances: docker-ce-cli
Replaces: docker-ce-cli
EOF

# Docker's plugin package ships only the CLI plugin, not Debian's /usr/bin/docker-compose link.
unpack docker-compose-plugin docker-compose
rm "$work/docker-compose-plugin/usr/bin/docker-compose"
rmdir "$work/docker-compose-plugin/usr/bin"
build docker-compose-plugin "$(upstream docker-compose)$suffix" <<EOF
Depends: $(library_depends docker-compose)
Recommends: docker-buildx-plugin
Enhances: docker-ce-cli
EOF

cd "$repo"
for deb in "$pool"/*.deb; do
  dpkg-deb --field "$deb"
  echo "Filename: $deb"
  echo "Size: $(stat -c %s "$deb")"
  echo "SHA256: $(sha256sum "$deb" | cut -d' ' -f1)"
  echo
done >"$index/Packages"
gzip -9nkf "$index/Packages"

cd "dists/$VERSION_CODENAME"
{
  echo "Origin: llmstack.gateway tests"
  echo "Label: STAND-IN Docker CE (tests)"
  echo "Suite: $VERSION_CODENAME"
  echo "Codename: $VERSION_CODENAME"
  echo "Date: $(LC_ALL=C date -u '+%a, %d %b %Y %H:%M:%S UTC')"
  echo "Architectures: $arch"
  echo "Components: stable"
  echo "SHA256:"
  for file in stable/binary-$arch/Packages stable/binary-$arch/Packages.gz; do
    echo " $(sha256sum "$file" | cut -d' ' -f1) $(stat -c %s "$file") $file"
  done
} >Release

export GNUPGHOME="$work/gnupg"
mkdir -m 0700 "$GNUPGHOME"
gpg --batch --quiet --pinentry-mode loopback --passphrase '' \
  --quick-generate-key "llmstack.gateway tests: stand-in Docker repository key" ed25519 sign never
gpg --batch --quiet --yes --clearsign --output InRelease Release
gpg --batch --quiet --yes --armor --detach-sign --output Release.gpg Release
gpg --batch --quiet --armor --export >"$repo/gpg"
