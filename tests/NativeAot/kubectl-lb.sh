#!/usr/bin/env bash
# Publishes kubectl-lb as NativeAOT (the linux-x64 build the native tool package carries) into the folder given as
# $1 and prints the executable's path, for KUBECTL_LB_EXECUTABLE (PublishedToolTests runs every command through it).
# Installs clang and zlib1g-dev if missing. Progress and problems go to stderr; exits non-zero if the publish fails.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:?usage: tests/NativeAot/kubectl-lb.sh <output folder>}

need=()
command -v clang >/dev/null || need+=(clang)
dpkg -s zlib1g-dev >/dev/null 2>&1 || need+=(zlib1g-dev)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${need[@]}"; } >/dev/null 2>&1
fi

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
echo "Publishing kubectl-lb with NativeAOT ..." >&2
dotnet publish src/LoadBalancing.Kubectl -c Release -r linux-x64 -p:NativeAotTool=true -o "$out" -v q -nologo 2>&1 | grep -v 'IL2104\|IL3053' >&2 || true
exe="$out/LoadBalancing.Kubectl"
[ -x "$exe" ] || { echo "kubectl-lb NativeAOT publish failed: no $exe" >&2; exit 1; }
echo "$exe"
