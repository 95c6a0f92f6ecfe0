#!/usr/bin/env bash
# `make lock`: pin what `make run` and `make test` install. Installs pyproject.toml's requirements (with the test
# extra) into a fresh, throw-away venv, as a new clone would get them today, and writes every version there to
# constraints.txt, with a digest of the requirements it was made from (scripts/lock_inputs.py checks it).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$PYTHON" -m venv "$work/venv"
"$work/venv/bin/pip" install -q --upgrade pip
"$work/venv/bin/pip" install -q '.[test,bench]'
{
  echo "# What \`make run\` and \`make test\` install: written by \`make lock\` (scripts/lock.sh); do not edit by hand."
  echo "# Python $("$work/venv/bin/python" -c 'import platform; print(platform.python_version())')"
  echo "# inputs-sha256: $("$PYTHON" scripts/lock_inputs.py digest)"
  "$work/venv/bin/pip" freeze --all --exclude helpline --exclude setuptools --exclude wheel
} > constraints.txt.new
mv constraints.txt.new constraints.txt
echo "constraints.txt: $(grep -c '==' constraints.txt) pins"
