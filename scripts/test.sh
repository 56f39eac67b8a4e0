#!/usr/bin/env bash
# `npm test`: every test, against real parts (workerd, CNCF distribution, skopeo, Nix).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-debian-packages.sh
if [[ ! -d node_modules ]]; then
  npm ci
fi

echo "Type-checking src/ and test/"
npx tsc --noEmit
npx tsc --noEmit -p test/tsconfig.json

npx vitest run "$@"
