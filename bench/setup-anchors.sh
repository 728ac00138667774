#!/usr/bin/env bash
# Installs what the benchmark anchors need, by package name. Safe to run twice.
#  - generic-pool, tarn, autocannon: devDependencies of this package (npm ci installs them).
#  - Jupyter (ipykernel driven by jupyter_client, and Jupyter Server): Debian's packages, for /usr/bin/python3.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d node_modules/generic-pool ] || [ ! -d node_modules/tarn ] || [ ! -d node_modules/autocannon ]; then
  npm ci --no-audit --no-fund
fi

if /usr/bin/python3 -c 'import ipykernel, jupyter_client, jupyter_server' 2>/dev/null; then
  echo "jupyter anchor: already installed"
elif command -v apt-get >/dev/null; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends python3-ipykernel python3-jupyter-client python3-jupyter-server
else
  echo "jupyter anchor: apt-get not found; rows compared with Jupyter will say 'not available'" >&2
fi

/usr/bin/python3 -c 'import ipykernel, jupyter_client; print("ipykernel", ipykernel.__version__, "jupyter_client", jupyter_client.__version__)'
