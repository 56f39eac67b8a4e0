#!/usr/bin/env bash
# Installs the Debian packages the tests run for real (registry, skopeo, Nix, ...) when any
# is missing, and fails loudly when it cannot: a test suite that quietly skips its real
# upstream would prove nothing.
set -euo pipefail

# command-or-file -> Debian package
declare -A needs=(
  [docker-registry]=docker-registry
  [skopeo]=skopeo
  [nix-build]=nix-bin
  [htpasswd]=apache2-utils
  [/bin/busybox]=busybox-static
  [openssl]=openssl
  [zstd]=zstd
  [podman]=podman
  [containerd]=containerd
  [ctr]=containerd
)

missing=()
for thing in "${!needs[@]}"; do
  if [[ "$thing" == /* ]]; then
    # The file alone is not enough: the fixtures need the static build, not a dynamic one.
    dpkg -s "${needs[$thing]}" >/dev/null 2>&1 && [[ -x "$thing" ]] && continue
  else
    command -v "$thing" >/dev/null 2>&1 && continue
  fi
  missing+=("${needs[$thing]}")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

echo "Installing Debian packages the tests need: ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then
  echo "error: not root, cannot apt-get install ${missing[*]}; install them and run again" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; }; then
  echo "error: apt-get could not install ${missing[*]}; the tests need them" >&2
  exit 1
fi
