#!/usr/bin/env bash
# Ensures a real Jupyter server (jupyter-server + ipykernel from PyPI, plus
# JupyterLab: the UI the portal embeds) is installed in a version-keyed
# virtualenv outside the repo, and prints the directory holding its `jupyter`
# executable as the last line of stdout:
#   export PATH="$(bash infra/testbed/jupyter.sh | tail -1):$PATH"
# Idempotent; the first run takes ~1 min, later runs are instant.
set -euo pipefail

JUPYTER_SERVER_VERSION=2.21.1
IPYKERNEL_VERSION=7.4.0
JUPYTERLAB_VERSION=4.6.6
TESTBED_DIR="${DAYBOX_TESTBED_DIR:-$HOME/.cache/daybox-testbed}"
VENV="$TESTBED_DIR/jupyter-server-$JUPYTER_SERVER_VERSION-ipykernel-$IPYKERNEL_VERSION-jupyterlab-$JUPYTERLAB_VERSION"

# A stamp file marks a complete install, so an interrupted one is redone.
if [[ ! -f "$VENV/.complete" ]]; then
  echo "jupyter.sh: installing jupyter-server $JUPYTER_SERVER_VERSION and jupyterlab $JUPYTERLAB_VERSION into $VENV" >&2
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    "jupyter-server==$JUPYTER_SERVER_VERSION" "ipykernel==$IPYKERNEL_VERSION" \
    "jupyterlab==$JUPYTERLAB_VERSION" >&2
  "$VENV/bin/jupyter" server --version >/dev/null
  "$VENV/bin/jupyter" lab --version >/dev/null
  touch "$VENV/.complete"
fi
echo "$VENV/bin"
