#!/usr/bin/env bash
# Creates the two environments of the project inside the repository:
#   .venv       toolchain: torch (CPU), brevitas, qonnx, finn-plus, hls4ml headers, pytest
#   .venv-host  mirrors a PYNQ board image: pynq 4.0.0, numpy < 2, no torch, no FINN
# Both install exact versions from requirements/*.lock with --no-deps, so pip never resolves
# (and never swaps the CPU torch wheel for a CUDA build). A stamp file holding the hash of
# the inputs makes a second run a no-op that finishes in seconds.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || { echo "setup: $PYTHON not found (Python 3.11 is required)" >&2; exit 1; }
PIP_QUIET=(--quiet --disable-pip-version-check)
pip_in() {  # pip_in DIR ARGS...: quiet pip that drops this machine's find-links noise
  local dir="$1"; shift
  "$dir/bin/pip" "$@" "${PIP_QUIET[@]}" 2> >(grep -v '^WARNING: Location' >&2)
}

# Debian packages: the Fashion-MNIST data set (VarGNet training/evaluation).
apt_pkgs=(dataset-fashion-mnist)
missing=()
for p in "${apt_pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: apt-get install ${missing[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup: not root or no apt-get; skipping Debian packages: ${missing[*]}" \
         "(tests that need them skip with the reason)" >&2
  fi
fi

inputs_hash() {  # hash of everything that decides an environment's contents
  cat "$@" pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1
}

make_env() {  # make_env DIR LOCK [NODEPS]
  local dir="$1" lock="$2" nodeps="${3:-}"
  local want; want="$(inputs_hash "$lock" ${nodeps:+"$nodeps"})"
  if [ -f "$dir/.setup-stamp" ] && [ "$(cat "$dir/.setup-stamp")" = "$want" ]; then
    echo "setup: $dir is up to date"
    return
  fi
  echo "setup: building $dir from $lock ..."
  rm -rf "$dir"
  "$PYTHON" -m venv "$dir"
  # torch first and pinned: it must be the CPU wheel (see ../shared/notes/toolchain.md)
  if grep -q '^torch==' "$lock"; then
    pip_in "$dir" install "$(grep '^torch==' "$lock")"
  fi
  pip_in "$dir" install --no-deps -r "$lock"
  if [ -n "$nodeps" ]; then
    pip_in "$dir" install --no-deps -r "$nodeps"
  fi
  pip_in "$dir" install --no-deps -e .
  echo "$want" > "$dir/.setup-stamp"
  echo "setup: $dir ready"
}

start=$(date +%s)
make_env .venv requirements/toolchain.lock requirements/toolchain-nodeps.txt
make_env .venv-host requirements/host.lock requirements/host-nodeps.txt
echo "setup: done in $(( $(date +%s) - start )) s"
