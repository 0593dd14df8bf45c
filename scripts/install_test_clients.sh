#!/usr/bin/env bash
# Installs the real clients and registries the end-to-end client tests drive
# (tests/e2e/clients/): Debian packages in one apt-get run, then each group's
# own installer under scripts/clients/ (npm packages into .tools/, …).
# Safe to run again: what is there is kept. A client that cannot be installed
# makes its tests skip with the reason printed; this script never fails CI.
set -uo pipefail
cd "$(dirname "$0")/.."

# Debian packages: command -> package.
declare -A PACKAGES=(
  [apt-ftparchive]=apt-utils
  [dpkg-deb]=dpkg
  [git]=git
  [wget]=wget
  [curl]=curl
  [go]=golang-go
  [cargo]=cargo
  [mvn]=maven
  [javac]=openjdk-17-jdk-headless
  [skopeo]=skopeo
  [podman]=podman
  [docker-registry]=docker-registry
  [htpasswd]=apache2-utils
  [bundle]=ruby-bundler
  [gem]=ruby
  [php]=php-cli
  [composer]=composer
  [unzip]=unzip
  [poetry]=python3-poetry
  # Debian's own pip (a pyenv pip may shadow pip3 on PATH): tests/e2e/clients/python_test.ts
  # builds its wheels with it and poetry-core.
  [/usr/bin/pip3]=python3-pip
  [yarnpkg]=yarnpkg
)
missing=()
for cmd in "${!PACKAGES[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${PACKAGES[$cmd]}")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing with apt-get: ${missing[*]}"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}") \
    >/tmp/hoard-apt-clients.log 2>&1 || echo "apt-get install failed (see /tmp/hoard-apt-clients.log): those tests will skip"
fi

for installer in scripts/clients/install_*.sh; do
  [ -e "$installer" ] || continue
  bash "$installer" || echo "$installer failed: its tests will skip"
done
exit 0
