#!/usr/bin/env bash
# Idempotent setup of the Python environment for the Splink peer benchmark.
#
# Creates a virtual environment at ${HEDUI_SPLINK_VENV:-$HOME/.cache/hedui-splink-venv}
# (outside the repository) and installs pinned Splink 5 + DuckDB + PyArrow into it.
# Safe to re-run: if the pinned versions are already installed it only prints them.
set -euo pipefail

VENV="${HEDUI_SPLINK_VENV:-$HOME/.cache/hedui-splink-venv}"
PYTHON="${PYTHON:-python3}"

# Pinned versions. splink 5.0.0 asks only for duckdb>=0.9.2, pyarrow>=18 and sqlglot>=17.6;
# these are the releases the benchmark scripts were verified with.
# pyarrow is needed to read/write Parquet (make_test_data.py) and by Splink itself.
# Splink 5 does not depend on pandas and neither do these scripts.
SPLINK_VERSION="5.0.0"
DUCKDB_VERSION="1.5.6"
PYARROW_VERSION="25.0.1"
SQLGLOT_VERSION="30.30.0"   # Splink parses and transpiles all its SQL with sqlglot

want_ok() {
    "$VENV/bin/python" - "$SPLINK_VERSION" "$DUCKDB_VERSION" "$PYARROW_VERSION" "$SQLGLOT_VERSION" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
want = dict(zip(["splink", "duckdb", "pyarrow", "sqlglot"], sys.argv[1:]))
for pkg, v in want.items():
    if version(pkg) != v:
        sys.exit(1)
import splink, duckdb, pyarrow  # noqa: F401  (importable, not just listed)
PY
}

if [ ! -x "$VENV/bin/python" ]; then
    echo "creating virtual environment at $VENV"
    mkdir -p "$(dirname "$VENV")"
    "$PYTHON" -m venv "$VENV"
fi

if want_ok; then
    echo "already installed in $VENV"
else
    echo "installing pinned packages into $VENV"
    "$VENV/bin/python" -m pip install --quiet \
        "splink==$SPLINK_VERSION" \
        "duckdb==$DUCKDB_VERSION" \
        "pyarrow==$PYARROW_VERSION" \
        "sqlglot==$SQLGLOT_VERSION"
    want_ok || { echo "error: installed versions do not match the pins" >&2; exit 1; }
fi

"$VENV/bin/python" - <<'PY'
import sys
from importlib.metadata import version
print(f"python  {sys.version.split()[0]} ({sys.executable})")
for pkg in ["splink", "duckdb", "pyarrow", "sqlglot"]:
    try:
        print(f"{pkg:7} {version(pkg)}")
    except Exception:
        print(f"{pkg:7} (not installed)")
PY
