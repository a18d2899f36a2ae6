#!/usr/bin/env bash
# Sets up bdlab on a fresh machine, then runs the main job (`bdlab demo`) on the embedded profile.
#   scripts/setup.sh            venv + packages + Java check + Spark jars, then the demo
#   scripts/setup.sh --no-demo  everything but the demo (CI uses this)
set -euo pipefail
cd "$(dirname "$0")/.."

demo=1
[ "${1:-}" = "--no-demo" ] && demo=0

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 2; }

py=""
for cand in "${PYTHON:-}" python3.11 python3.12 python3.13 python3; do
  [ -n "$cand" ] || continue
  if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    py=$cand; break
  fi
done
[ -n "$py" ] || die "Python 3.11+ not found: install it (e.g. apt-get install python3.11 python3.11-venv) and rerun."

if [ ! -x .venv/bin/python ]; then
  say "creating .venv with $($py --version)"
  "$py" -m venv .venv || die "could not create a venv: install the venv module (apt-get install python3-venv)."
fi
# Skip pip when nothing it installs from changed (so a second run works offline); its
# output goes to a log, shown only when it fails (no setuptools warning wall).
stamp_file=.venv/.bdlab-install-stamp
stamp="$(cat pyproject.toml; .venv/bin/python --version)"
if [ -x .venv/bin/bdlab ] && [ "$(cat "$stamp_file" 2>/dev/null)" = "$stamp" ]; then
  say "packages already installed in .venv (pyproject.toml unchanged)"
else
  say "installing bdlab and its packages into .venv (1-3 min; log: .venv/pip-install.log)"
  if ! { .venv/bin/python -m pip install -q --upgrade pip \
         && .venv/bin/python -m pip install -q -e ".[dev]"; } >.venv/pip-install.log 2>&1; then
    tail -20 .venv/pip-install.log >&2
    die "pip could not install the packages (offline, or a proxy?); full log: .venv/pip-install.log"
  fi
  printf '%s' "$stamp" >"$stamp_file"
fi

java_major() { java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1; }
if ! command -v java >/dev/null 2>&1 || [ "$(java_major)" -lt 17 ] 2>/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing Java 17 (Spark needs it)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null
  else
    die "Java 17+ is required for Spark: install it (apt-get install openjdk-17-jre-headless / brew install openjdk@17) and rerun."
  fi
fi

# The browser tests (marker `browser`) drive Debian's chromium headless through Playwright
# (executable_path): no browser download, which CI cannot do. Without it they skip.
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing Debian's chromium (the dashboard's browser tests run it headless)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; } \
      || echo "warning: apt-get could not install chromium: the browser tests will skip"
  else
    echo "note: no /usr/bin/chromium and no apt-get as root here: the browser tests will skip (install Debian's chromium to run them)"
  fi
fi

say "fetching Spark's extra jars into the cache (once; offline afterwards)"
.venv/bin/bdlab setup

if [ "$demo" = 1 ]; then
  say "running the main job: bdlab demo"
  .venv/bin/bdlab demo
  echo
  echo "The emulator keeps running: '.venv/bin/bdlab status' shows its port and state folder, '.venv/bin/bdlab down' stops it."
  echo "Next: .venv/bin/bdlab labs   |   tests: .venv/bin/pytest"
fi
