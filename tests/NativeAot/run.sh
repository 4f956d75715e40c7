#!/usr/bin/env bash
# NativeAOT smoke test: publishes ProxyHost with NativeAOT and checks, over loopback, that it proxies and that
# Kubernetes discovery works under it — the list, a watch event that adds an endpoint, a bookmark, and a 410
# Expired line that makes it relist — against a scripted API server (fake_api.py) and an nginx upstream on
# 127.0.0.1 and 127.0.0.2. Installs clang, zlib1g-dev, nginx and python3 if missing. About 4 minutes, mostly
# the publish. Prints "NativeAOT smoke: passed" or the check that failed, and exits non-zero on failure.
set -euo pipefail
cd "$(dirname "$0")/../.."

need=()
command -v clang >/dev/null || need+=(clang)
dpkg -s zlib1g-dev >/dev/null 2>&1 || need+=(zlib1g-dev)
command -v nginx >/dev/null || need+=(nginx-light)
command -v python3 >/dev/null || need+=(python3)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
echo "Publishing ProxyHost with NativeAOT ..."
dotnet publish samples/ProxyHost -c Release -r linux-x64 -p:PublishAot=true -o "$work/aot" -v q -nologo 2>&1 | grep -v 'IL2104\|IL3053' || true
[ -x "$work/aot/ProxyHost" ] || { echo "NativeAOT smoke: publish failed"; exit 1; }

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
upstream=$(free_port); api=$(free_port); listen=$(free_port); admin=$(free_port)

cat > "$work/upstream.conf" <<CONF
worker_processes 1; daemon off; pid $work/upstream.pid; error_log $work/upstream.log warn;
events { worker_connections 256; }
http { access_log off; server { listen 127.0.0.1:$upstream; listen 127.0.0.2:$upstream;
  location / { default_type text/plain; return 200 "from \$server_addr\n"; } } }
CONF
cat > "$work/proxy.json" <<CONF
{ "Logging": { "LogLevel": { "Default": "Warning" } }, "DemoBackends": { "Count": 0 },
  "Kubernetes": { "ApiServer": "http://127.0.0.1:$api" },
  "Proxy": { "Listeners": [ { "Url": "http://127.0.0.1:$listen" } ], "Admin": { "Url": "http://127.0.0.1:$admin" },
    "Routes": [ { "Path": "/", "Cluster": "shop" } ],
    "Clusters": { "shop": { "Algorithm": "RoundRobin", "Kubernetes": { "Namespace": "prod", "Service": "shop", "Port": "http" } } } } }
CONF

nginx -c "$work/upstream.conf" & pids+=($!)
python3 tests/NativeAot/fake_api.py "$api" "$upstream" 2>"$work/api.log" & pids+=($!)
timeout 120 "$work/aot/ProxyHost" --config "$work/proxy.json" >"$work/proxy.log" 2>&1 & pids+=($!)

fail() { echo "NativeAOT smoke: FAILED: $1"; echo "--- proxy log"; tail -20 "$work/proxy.log"; echo "--- backends"; curl -s "127.0.0.1:$admin/backends" | head -c 3000; echo; echo "--- upstream log"; cat "$work/upstream.log"; exit 1; }
metric() { curl -s "127.0.0.1:$admin/metrics" | { grep -F "$1" || true; } | awk '{print $2}' | head -1; }
# Poll with a deadline: each condition is met within a second or two when things work.
until_true() { local what=$1; shift; for _ in $(seq 150); do if "$@"; then return 0; fi; sleep 0.2; done; fail "$what"; }

until_true "the proxy answers" curl -sf "127.0.0.1:$listen/" -o /dev/null
has_two_endpoints() { [ "$(metric 'lb_kubernetes_service_endpoints{service="prod/shop:http"}')" = "2" ]; }
relisted_after_410() { [ "$(metric 'lb_kubernetes_watch_restarts_total{cause="expired",namespace="prod"}')" = "1" ] && [ "$(metric 'lb_kubernetes_relists_total{namespace="prod"}')" = "2" ]; }
bookmarked() { [ -n "$(metric 'lb_kubernetes_watch_events_total{namespace="prod",type="bookmark"}')" ]; }
until_true "a 410 Expired watch line makes discovery relist" relisted_after_410
until_true "the watch's MODIFIED event adds the second endpoint" has_two_endpoints
until_true "bookmarks are read" bookmarked
reaches_second() { local out; out=$(for _ in 1 2 3 4 5 6; do curl -s "127.0.0.1:$listen/"; done); [[ "$out" == *"from 127.0.0.2"* ]]; }
until_true "requests reach the endpoint the watch added" reaches_second
malformed=$(metric 'lb_kubernetes_malformed_objects_total{namespace="prod"}')
[ -z "$malformed" ] || [ "$malformed" = "0" ] || fail "watch lines were skipped as malformed ($malformed)"
echo "NativeAOT smoke: passed"
