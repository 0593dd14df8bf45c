#!/usr/bin/env bash
# The npm family's clients and registry for tests/e2e/clients/npm_family_test.ts,
# each in its own directory under .tools/ (git-ignored), at pinned versions:
#   .tools/verdaccio   Verdaccio, the registry (npm is on PATH; yarn classic is Debian's yarnpkg)
#   .tools/pnpm        pnpm
#   .tools/yarn-berry  yarn 4 (@yarnpkg/cli-dist: one yarn.js, run with node)
# Safe to run again: an install already at its version is kept. No lockfile is
# written (one would name the registry the packages came from).
set -euo pipefail
cd "$(dirname "$0")/../.."

VERDACCIO=6.8.0
PNPM=12.23.0
YARN_BERRY=4.18.1

command -v npm >/dev/null || { echo "no npm: the npm family's tests will skip"; exit 1; }

# install DIR PACKAGE VERSION [EXTRA_JSON]: DIR/package.json pins PACKAGE@VERSION
# (plus EXTRA_JSON's fields, e.g. overrides), then npm installs it there.
install() {
  local dir=".tools/$1" pkg="$2" version="$3" extra="${4:-}"
  if [ -f "$dir/node_modules/$pkg/package.json" ] &&
    grep -q "\"version\": \"$version\"" "$dir/node_modules/$pkg/package.json"; then
    echo "$pkg $version: already in $dir"
    return
  fi
  mkdir -p "$dir"
  cat >"$dir/package.json" <<JSON
{
  "name": "hoard-tools-$1",
  "private": true,
  "dependencies": { "$pkg": "$version" }${extra:+,
  $extra}
}
JSON
  echo "installing $pkg $version into $dir"
  (cd "$dir" && npm install --no-package-lock --no-audit --no-fund --loglevel=error)
}

# Verdaccio 6.8.0's verdaccio-audit asks for node-fetch by a dist-tag (`cjs`), a
# moving target: the override pins 2.7.0, the last CommonJS release. Later
# Verdaccio releases need Node 22.
install verdaccio verdaccio "$VERDACCIO" '"overrides": { "node-fetch": "2.7.0" }'
install pnpm pnpm "$PNPM"
install yarn-berry @yarnpkg/cli-dist "$YARN_BERRY"
