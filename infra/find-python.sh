#!/usr/bin/env bash
# Print the path of a Python 3.13 interpreter, or fail with a hint.
# Order: an explicit $PYTHON, a python3.13 that actually runs (the bare pyenv shim
# refuses unless a pyenv version selects it), then the newest 3.13.x pyenv knows.
set -euo pipefail
want="3.13"
runs() { "$1" -c "import sys; sys.exit(sys.version_info[:2] != (3, 13))" >/dev/null 2>&1; }
if [ -n "${PYTHON:-}" ]; then
  runs "$PYTHON" && { echo "$PYTHON"; exit 0; }
  echo "PYTHON=$PYTHON is not a working Python $want" >&2; exit 1
fi
if command -v python3.13 >/dev/null 2>&1 && runs python3.13; then
  command -v python3.13; exit 0
fi
if command -v pyenv >/dev/null 2>&1; then
  version=$(pyenv versions --bare 2>/dev/null | grep -E "^${want//./\\.}\.[0-9]+$" | sort -V | tail -n 1 || true)
  if [ -n "$version" ]; then
    candidate="$(pyenv prefix "$version")/bin/python$want"
    runs "$candidate" && { echo "$candidate"; exit 0; }
  fi
fi
echo "Python $want not found: install it (e.g. 'pyenv install 3.13') or set PYTHON=/path/to/python3.13" >&2
exit 1
