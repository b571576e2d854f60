#!/usr/bin/env bash
# Install the pinned validators of deploy/ once, cached under ${CAIRN_CACHE_DIR:-~/.cache/cairn}:
#   - hadolint, kubernetes-validate, check-jsonschema from PyPI (deploy/tools/requirements.txt),
#     in a virtualenv of their own;
#   - helm, built from the Go module proxy with `go install helm.sh/helm/v4/cmd/helm@VERSION`.
# Prints nothing when everything is already there. `make test` runs it; tests/deploy runs it too,
# so `pytest tests/deploy` works on a fresh clone.
set -euo pipefail
HELM_VERSION="v4.3.2"
here="$(cd "$(dirname "$0")" && pwd)"
cache="${CAIRN_CACHE_DIR:-$HOME/.cache/cairn}/deploy-tools"
venv="$cache/venv"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9  # two test sessions installing at once would corrupt the virtualenv

if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "deploy tools: installing validators into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$here/requirements.txt"
  echo "$want" >"$stamp"
fi

helm_dir="$cache/helm-$HELM_VERSION"
if [ ! -x "$helm_dir/helm" ]; then
  echo "deploy tools: building helm $HELM_VERSION from the Go module proxy (a few minutes, once)" >&2
  GOBIN="$helm_dir" GOFLAGS=-mod=mod go install "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"
fi
