#!/usr/bin/env bash
# medthreat's own SBOM: a CycloneDX 1.6 JSON document of the project's virtual environment
# (medthreat and every installed distribution), written reproducibly, then checked with
# `medthreat sbom check` for the NTIA minimum elements and the support information.
#
#   scripts/sbom.sh [--strict] [--no-validate] [OUTPUT]
#
# OUTPUT defaults to reports/sbom/medthreat.cdx.json in the repository. The timestamp is
# SOURCE_DATE_EPOCH when set, else the time of the current git commit, so the same environment
# at the same commit gives the same bytes. --no-validate skips cyclonedx-py's schema validation
# (slow: about half a minute of CPU for its URL format checks), for callers that validate the
# file themselves. The NTIA result is printed; its problems fail the script only with --strict,
# because cyclonedx-py records neither suppliers nor support levels.
set -euo pipefail

caller="$PWD"
cd "$(dirname "${BASH_SOURCE[0]}")/.."

VENV="${VENV:-.venv}"
strict=0
validate=--validate
out=reports/sbom/medthreat.cdx.json
while [ $# -gt 0 ]; do
    case "$1" in
        --strict) strict=1 ;;
        --no-validate) validate=--no-validate ;;
        -h|--help) sed -n '2,13p' "${BASH_SOURCE[0]}"; exit 0 ;;
        -*) echo "sbom.sh: unknown option $1" >&2; exit 2 ;;
        /*) out="$1" ;;
        *) out="$caller/$1" ;;
    esac
    shift
done

for tool in "$VENV/bin/python" "$VENV/bin/cyclonedx-py" "$VENV/bin/medthreat"; do
    if [ ! -x "$tool" ]; then
        echo "sbom.sh: $tool is missing; run 'make venv' (cyclonedx-bom is in the dev extra)" >&2
        exit 2
    fi
done

if [ -z "${SOURCE_DATE_EPOCH:-}" ] && git rev-parse --verify -q HEAD >/dev/null 2>&1; then
    SOURCE_DATE_EPOCH="$(git log -1 --format=%ct HEAD)"
fi
if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
    export SOURCE_DATE_EPOCH
fi

mkdir -p "$(dirname "$out")"
"$VENV/bin/cyclonedx-py" environment \
    --spec-version 1.6 --output-format JSON --output-reproducible "$validate" \
    --pyproject pyproject.toml --mc-type application \
    --output-file "$out" "$VENV/bin/python"
echo "sbom.sh: wrote $out"

# `medthreat sbom check` reads the SBOMs a model names: a one-component model points at it.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
sbom_path="$(cd "$(dirname "$out")" && pwd)/$(basename "$out")"
cat >"$work/environment.yaml" <<EOF
schema_version: 1
system:
  name: medthreat Python environment
  version: "$("$VENV/bin/python" -c 'import medthreat; print(medthreat.__version__)')"
components:
  - id: medthreat_environment
    name: medthreat and the distributions installed with it
    type: cloud_service
    sbom: "$sbom_path"
EOF

status=0
"$VENV/bin/medthreat" sbom check "$work/environment.yaml" >"$work/check.txt" || status=$?
head -n 1 "$work/check.txt"
grep -o '^  \[[a-z_]*\]' "$work/check.txt" | sort | uniq -c \
    | awk '{printf "    %-22s %5d\n", $2, $1}' || true
tail -n 1 "$work/check.txt"
if [ "$status" -gt 1 ] || { [ "$status" -eq 1 ] && [ "$strict" -eq 1 ]; }; then
    exit "$status"
fi
