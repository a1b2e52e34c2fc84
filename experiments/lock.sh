#!/usr/bin/env bash
# Refresh the lock files in requirements/: exact versions, with hashes, of the base install and of each extra in
# pyproject.toml, for Python 3.12 on Linux x86_64 (the CI machine and the container).
#
#   .venv/bin/pip install uv && bash experiments/lock.sh             # after pyproject's dependencies change
#   bash experiments/lock.sh --upgrade                                # move every pin to the newest allowed
#
# Every extra is resolved together first (all.txt), and each install set is then held to it, so a package has the
# same version in every file and any of them can be installed together (CI installs test, cluster and dashboard).
# requirements/constraints.in steers the resolver where its first choice is absurd; it says why.
set -euo pipefail
cd "$(dirname "$0")/.."

uv=${UV:-$(command -v uv || echo .venv/bin/uv)}
python=${PYTHON:-$(command -v python3 || command -v python)}
[ -x "$uv" ] || { echo "error: uv not found (install it: .venv/bin/pip install uv, or set UV=)" >&2; exit 1; }

compile() {
    "$uv" pip compile pyproject.toml --quiet --generate-hashes \
        --python-version 3.12 --python-platform x86_64-unknown-linux-gnu \
        --custom-compile-command "bash experiments/lock.sh" "$@"
}

extras=$("$python" -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"])')

compile --all-extras -c requirements/constraints.in -o requirements/all.txt "$@"
compile -c requirements/all.txt -o requirements/base.txt "$@"
for extra in $extras; do
    compile --extra "$extra" -c requirements/all.txt -o "requirements/$extra.txt" "$@"
done
echo "locked: requirements/all.txt requirements/base.txt$(printf ' requirements/%s.txt' $extras)"
