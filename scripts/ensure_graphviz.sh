#!/usr/bin/env bash
# Make Graphviz's `dot` available for rendered diagrams, where that can be done unattended.
#
# Best effort by design: medthreat works without Graphviz (diagrams then fall back to .dot
# source), so this script never fails. It installs the Debian package only when it runs as
# root with apt-get; anywhere else it prints one warning saying what to install.
set -u

if command -v dot >/dev/null 2>&1; then
    echo "graphviz: found $(dot -V 2>&1)"
    exit 0
fi

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "graphviz: 'dot' not found; installing the Debian package graphviz (apt-get) ..."
    if apt-get update -qq >/dev/null \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null \
        && command -v dot >/dev/null 2>&1; then
        echo "graphviz: installed $(dot -V 2>&1)"
        exit 0
    fi
fi

echo "WARNING: Graphviz 'dot' is not available, so diagrams will fall back to .dot source." \
    "Install Graphviz (e.g. 'apt-get install graphviz' or 'brew install graphviz') for SVG/PNG." >&2
exit 0
