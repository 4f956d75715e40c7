#!/usr/bin/env bash
# The full load run with a baseline: ProxyHost built from another commit runs as "base-rr" beside ours, interleaved,
# so a change's effect on the HTTP/1.1 path is read as a ratio from one run.
#   bench/load/baseline.sh <commit> [run.sh flags]
set -euo pipefail
cd "$(dirname "$0")/../.."
commit=${1:?usage: bench/load/baseline.sh <commit> [run.sh flags]}
shift
dir=$(mktemp -d)
trap 'git worktree remove --force "$dir" >/dev/null 2>&1 || rm -rf "$dir"' EXIT
git worktree add --detach -q "$dir" "$commit"
echo "Building ProxyHost at $(git rev-parse --short "$commit") ..."
dotnet build -c Release "$dir/samples/ProxyHost" -v q -nologo >/dev/null
LB_BASELINE_DLL="$dir/samples/ProxyHost/bin/Release/net10.0/ProxyHost.dll" bench/load/run.sh "$@"
