#!/usr/bin/env bash
# Print the path of a Python 3.13 interpreter (or of the X.Y given as the argument), or
# fail with a hint. Order: an explicit $PYTHON (3.13 only), a python3.13 that actually
# runs (the bare pyenv shim refuses unless a pyenv version selects it), then the newest
# 3.13.x pyenv knows.
set -euo pipefail
want="${1:-3.13}"
runs() { "$1" -c "import sys; sys.exit('%d.%d' % sys.version_info[:2] != '$want')" >/dev/null 2>&1; }
if [ -n "${PYTHON:-}" ] && [ "$want" = "3.13" ]; then
  runs "$PYTHON" && { echo "$PYTHON"; exit 0; }
  echo "PYTHON=$PYTHON is not a working Python $want" >&2; exit 1
fi
if command -v "python$want" >/dev/null 2>&1 && runs "python$want"; then
  command -v "python$want"; exit 0
fi
if command -v pyenv >/dev/null 2>&1; then
  version=$(pyenv versions --bare 2>/dev/null | grep -E "^${want//./\\.}\.[0-9]+$" | sort -V | tail -n 1 || true)
  if [ -n "$version" ]; then
    candidate="$(pyenv prefix "$version")/bin/python$want"
    runs "$candidate" && { echo "$candidate"; exit 0; }
  fi
fi
echo "Python $want not found: install it (e.g. 'pyenv install $want')" "$( [ "$want" = 3.13 ] && echo 'or set PYTHON=/path/to/python3.13')" >&2
exit 1
