#!/usr/bin/env bash
# The Ingress and Gateway API controllers under the shipped (NativeAOT) host: ProxyHost at $1 reads an IngressClass,
# an Ingress, a GatewayClass, a Gateway, an HTTPRoute and a GRPCRoute from a scripted API server
# (fake_controller_api.py) and routes them: host ingress.test and /web over HTTP/1.1 to an nginx standing in for
# Service web, and the gRPC method pkg.Echo/Say over prior-knowledge h2c, on the same port, to an nginx speaking h2c
# for Service grpc. Loopback only; every process stops by itself within 120 s. run.sh calls it with the binary it
# published; it can be run alone: tests/NativeAot/controllers.sh <published ProxyHost>.
# Prints "NativeAOT smoke (controllers): passed" or the check that failed, and exits non-zero on failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
host=${1:?usage: tests/NativeAot/controllers.sh <published ProxyHost>}

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
web=$(free_port); grpc=$(free_port); api=$(free_port); listen=$(free_port); admin=$(free_port)
cat > "$work/upstreams.conf" <<CONF
worker_processes 1; daemon off; pid $work/upstreams.pid; error_log $work/upstreams.log warn;
events { worker_connections 64; }
http { access_log off;
  server { listen 127.0.0.3:$web; location / { default_type text/plain; return 200 "web\n"; } }
  server { listen 127.0.0.4:$grpc http2; location / { default_type text/plain; return 200 "grpc over \$server_protocol"; } } }
CONF
timeout 120 nginx -c "$work/upstreams.conf" & pids+=($!)
python3 tests/NativeAot/fake_controller_api.py "$api" "127.0.0.3:$web" "127.0.0.4:$grpc" 2>"$work/api.log" & pids+=($!)
cat > "$work/proxy.json" <<CONF
{ "Logging": { "LogLevel": { "Default": "Warning" } }, "DemoBackends": { "Count": 0 },
  "Kubernetes": { "ApiServer": "http://127.0.0.1:$api", "Ingress": { "Enabled": true },
    "Gateway": { "Enabled": true, "ListenerPorts": { "80": $listen } }, "Status": { "Enabled": false } },
  "Proxy": { "Listeners": [ { "Url": "http://127.0.0.1:$listen" } ], "Admin": { "Url": "http://127.0.0.1:$admin" } } }
CONF
timeout 120 "$host" --config "$work/proxy.json" >"$work/proxy.log" 2>&1 & pids+=($!)

fail() { echo "NativeAOT smoke (controllers): FAILED: $1"; echo "--- proxy log"; tail -30 "$work/proxy.log"; echo "--- API server log"; tail -20 "$work/api.log"; echo "--- backends"; curl -s "127.0.0.1:$admin/backends" | head -c 3000; echo; exit 1; }
until_true() { local what=$1; shift; for _ in $(seq 150); do if "$@"; then return 0; fi; sleep 0.2; done; fail "$what"; }
web_routed() { [ "$(curl -s -H 'Host: shop.test' "127.0.0.1:$listen/web")" = "web" ]; }
grpc_routed() { [ "$(curl -s --http2-prior-knowledge -X POST -H 'content-type: application/grpc' -o - -w ' %{http_version}' "127.0.0.1:$listen/pkg.Echo/Say")" = "grpc over HTTP/2.0 2" ]; }
ingress_routed() { [ "$(curl -s -H 'Host: ingress.test' "127.0.0.1:$listen/")" = "web" ]; }
until_true "the Ingress's host ingress.test reaches Service web" ingress_routed
until_true "the HTTPRoute's /web reaches Service web over HTTP/1.1" web_routed
until_true "the GRPCRoute's pkg.Echo/Say reaches Service grpc over h2c, on the port HTTP/1.1 uses" grpc_routed
unmatched=$(curl -s --http2-prior-knowledge -o /dev/null -w '%{http_code}' -X POST "127.0.0.1:$listen/pkg.Echo/Other")
[ "$unmatched" = "404" ] || fail "a method no route names got $unmatched, not 404 (UNIMPLEMENTED)"
if grep -qi "unreadable\|could not read" "$work/proxy.log"; then fail "objects were skipped as unreadable"; fi
echo "NativeAOT smoke (controllers): passed"
