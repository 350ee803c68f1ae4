#!/usr/bin/env bash
# The README's promise, checked end to end: a clone with nothing beside it, a new virtual environment, and
# the README's second command (install and run the tests), exactly as written. .ci/run calls it; it is not
# a test inside the suite, which would run the suite from within itself (issue 11).
#
#   bash scripts/fresh_clone.sh            # clone HEAD of this repository and run the README's test command
#   bash scripts/fresh_clone.sh 'CHECKS'   # then run CHECKS (a bash command) in the same clone and venv
#
# It fails if the command fails, if any test was skipped for a missing file, or if CHECKS fail. It clones
# the last commit: uncommitted changes are not tested.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
clone_parent=$(mktemp -d "${TMPDIR:-/tmp}/magnus-fresh-clone.XXXXXX")  # holds the clone and nothing else
venv=$(mktemp -d "${TMPDIR:-/tmp}/magnus-fresh-venv.XXXXXX")
trap 'rm -rf "$clone_parent" "$venv"' EXIT

git clone -q --no-local "$src" "$clone_parent/magnus"
cd "$clone_parent/magnus"
"$python" -m venv "$venv"
# shellcheck disable=SC1091
source "$venv/bin/activate"
command=$(awk '/^```bash/{n++; next} /^```/{next} n==2{print; exit}' README.md)
[ -n "$command" ] || { echo "fresh clone: README.md has no second bash block (the test command)"; exit 1; }
echo "fresh clone: $(git log -1 --format='%h %s') in $clone_parent/magnus, venv $venv"
echo "fresh clone: \$ $command"
log="$venv/pytest.log"
set +e
bash -c "$command" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
if [ "$status" -ne 0 ]; then
    echo "fresh clone: the README's test command failed (exit $status)"
    exit "$status"
fi
if grep -iE '^SKIPPED .*(no such file|not found|missing|does not exist)' "$log"; then
    echo "fresh clone: tests were skipped for a missing file (above)"
    exit 1
fi
echo "fresh clone: the README's test command passed in $SECONDS s"
if [ $# -gt 0 ]; then
    echo "fresh clone: \$ $1"
    bash -c "$1"
    echo "fresh clone: checks passed, $SECONDS s in all"
fi
