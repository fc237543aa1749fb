#!/usr/bin/env bash
# Install every lower bound (">=X") in pyproject.toml exactly (==X) into a separate venv and run
# the fast unit tests there, so the floors we publish are versions the suite has really passed on.
#   usage: tools/check_floors.sh [VENV_DIR]   (default .venv-floors; PYTHON=python3.11 by default)
# Transitive dependencies are left to pip: we only promise our own floors.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${1:-.venv-floors}"
python="${PYTHON:-python3.11}"
start=$SECONDS

# The floors, read from [project] dependencies and the "test" extra. A dependency without a
# ">=" floor is an error: an unpinned line would install the newest release and prove nothing.
mapfile -t pins < <("$python" - <<'EOF'
import re, sys, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
for req in project["dependencies"] + project["optional-dependencies"]["test"]:
    m = re.match(r"\s*([A-Za-z0-9._-]+)(\[[^\]]*\])?\s*>=\s*([^,;\s]+)", req)
    if not m:
        sys.exit(f"check_floors: no '>=' floor in dependency {req!r}")
    print(f"{m[1]}{m[2] or ''}=={m[3]}")
EOF
)
echo "floors: ${pins[*]}"

# A fresh venv every run, so nothing left over from an earlier install can mask a floor.
rm -rf "$venv"
"$python" -m venv "$venv"
# One resolve for all floors: pip fails here if two floors cannot be installed together.
"$venv/bin/pip" install -q --disable-pip-version-check "${pins[@]}"
# --no-deps: the project's own requirements must not pull anything above the floors.
"$venv/bin/pip" install -q --disable-pip-version-check --no-deps -e .
"$venv/bin/pip" check

# The datasets the data tests read (as .ci/run does); without them those tests skip.
if [ -z "${VAE_DATA_DIR:-}" ] && [ -d ../shared/data ]; then
  export VAE_DATA_DIR="$(cd ../shared/data && pwd)"
fi

# Unit tests only: the browser tests need Chromium and take minutes. --ignore covers the time
# before the browser/slow markers exist; once they do, -m alone selects the same tests.
# The streamlit and playwright floors were set by "slow" tests (AppTest pages, benchmark smoke
# runs): FLOORS_MARKERS="not browser" re-checks them.
rc=0
"$venv/bin/python" -m pytest -m "${FLOORS_MARKERS:-not browser and not slow}" --ignore=tests/e2e -q -p no:cacheprovider || rc=$?

# What was actually tested, for the README's "tested versions" line.
echo "--- installed in $venv ($("$venv/bin/python" --version)):"
names="$(printf '%s\n' "${pins[@]%%[=[]*}" | tr '_' '-')"
"$venv/bin/pip" freeze --disable-pip-version-check | tr '_' '-' | grep -iE "^($(paste -sd'|' <<<"$names"))(==| @)" || true
echo "--- pytest exit status $rc after $((SECONDS - start)) s"
exit "$rc"
