#!/usr/bin/env bash
# A wheel directory with modelserve and every dependency at its pinned version, so images
# and nodes install without reaching a package index.
#
#   deploy/images/build-wheels.sh OUT [--train] [--dist DIST]
#
# Writes OUT/constraints-serving.txt (and, with --train, constraints-training.txt) beside
# the dependencies' wheels, and modelserve's own wheel into DIST (default: OUT). Run it with
# the Python of an environment where modelserve is installed.
set -euo pipefail
out=${1:?usage: $0 OUT [--train] [--dist DIST]}
shift
train= dist=$out
while [ $# -gt 0 ]; do
  case $1 in
    --train) train=--train ;;
    --dist) dist=$2; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
python=${PYTHON:-python3}
root=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$out" "$dist"

rm -f "$dist"/modelserve-*.whl
"$python" -m pip wheel --quiet --disable-pip-version-check --no-deps --wheel-dir "$dist" "$root"
kinds=(serving)
[ "$train" = "--train" ] && kinds+=(training)
for kind in "${kinds[@]}"; do
  flag=$([ "$kind" = training ] && echo True || echo False)
  "$python" -c "from modelserve.cloud.software import installed_versions as p; \
print(p(train=$flag), end='')" > "$out/constraints-$kind.txt"
  grep -v '^#' "$out/constraints-$kind.txt" > "$out/.requirements-$kind.txt"
  "$python" -m pip download --quiet --disable-pip-version-check --only-binary=:all: \
    --dest "$out" -r "$out/.requirements-$kind.txt"
  rm "$out/.requirements-$kind.txt"
done
