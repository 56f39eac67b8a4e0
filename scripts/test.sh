#!/usr/bin/env bash
# `npm test`: every test, against real parts (workerd, CNCF distribution, skopeo, Nix).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-debian-packages.sh
if [[ ! -d node_modules ]]; then
  npm ci
fi

echo "Type-checking src/, test/ and bench/"
npx tsc --noEmit
npx tsc --noEmit -p test/tsconfig.json
npx tsc --noEmit -p bench/tsconfig.json
npx tsc --noEmit -p bench/bare-put/tsconfig.json

npx vitest run "$@"
