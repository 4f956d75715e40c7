#!/usr/bin/env bash
# NativeAOT smoke test: publishes ProxyHost as it ships (NativeAOT by default) and checks, over loopback, that it
# proxies and that Kubernetes discovery works under it — the list, a watch event that adds an endpoint, a bookmark,
# and a 410 Expired line that makes it relist — against a scripted API server (fake_api.py) and an nginx upstream on
# 127.0.0.1 and 127.0.0.2, reaching the API server three ways: its URL (Kubernetes:ApiServer), a kubeconfig file
# with a bearer token (Kubernetes:KubeConfigPath), and the in-cluster service account (HTTPS with the account's CA
# and token, the files placed at /var/run/secrets/kubernetes.io/serviceaccount in a private mount namespace).
# Then the Ingress and Gateway API controllers under it (controllers.sh: an Ingress, an HTTPRoute over HTTP/1.1 and a
# GRPCRoute over h2c on one port).
# Installs clang, zlib1g-dev, nginx, python3, curl and openssl if missing. About 4 minutes, mostly the publish.
# Prints "NativeAOT smoke: passed" or the check that failed, and exits non-zero on failure. .ci/run runs it.
set -euo pipefail
cd "$(dirname "$0")/../.."

need=()
command -v clang >/dev/null || need+=(clang)
dpkg -s zlib1g-dev >/dev/null 2>&1 || need+=(zlib1g-dev)
command -v nginx >/dev/null || need+=(nginx-light)
command -v python3 >/dev/null || need+=(python3)
command -v curl >/dev/null || need+=(curl)
command -v openssl >/dev/null || need+=(openssl)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
echo "Publishing ProxyHost (dotnet publish samples/ProxyHost -c Release: NativeAOT by default) ..."
dotnet publish samples/ProxyHost -c Release -o "$work/aot" -v q -nologo 2>&1 | grep -v 'IL2104\|IL3053' || true
[ -x "$work/aot/ProxyHost" ] || { echo "NativeAOT smoke: publish failed"; exit 1; }
[ ! -e "$work/aot/ProxyHost.dll" ] || { echo "NativeAOT smoke: FAILED: the default publish made a JIT host (ProxyHost.dll), not a native executable"; exit 1; }
# The memory layout it ships with (ProxyHost.csproj): type data left in the file mapping, so a position-dependent
# executable (ELF type EXEC) without the .hydrated section that dehydrated type data is rewritten into at start.
shape=$(python3 - "$work/aot/ProxyHost" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
e_type, = struct.unpack_from("<H", data, 16)
shoff, = struct.unpack_from("<Q", data, 0x28)
shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
strtab_off, = struct.unpack_from("<Q", data, shoff + shstrndx * shentsize + 0x18)
names = [data[strtab_off + struct.unpack_from("<I", data, shoff + i * shentsize)[0]:].split(b"\0", 1)[0].decode() for i in range(shnum)]
print("EXEC" if e_type == 2 else "PIE" if e_type == 3 else f"type {e_type}", "hydrated" if ".hydrated" in names else "undehydrated")
PY
)
[ "$shape" = "EXEC undehydrated" ] || { echo "NativeAOT smoke: FAILED: the executable is '$shape', not the shipped 'EXEC undehydrated' (ProxyHost.csproj)"; exit 1; }

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
upstream=$(free_port)
cat > "$work/upstream.conf" <<CONF
worker_processes 1; daemon off; pid $work/upstream.pid; error_log $work/upstream.log warn;
events { worker_connections 256; }
http { access_log off; server { listen 127.0.0.1:$upstream; listen 127.0.0.2:$upstream;
  location / { default_type text/plain; return 200 "from \$server_addr\n"; } } }
CONF
nginx -c "$work/upstream.conf" & pids+=($!)

# The API server's certificate for the in-cluster run, issued by a CA the service account's ca.crt holds.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/ca.key" -out "$work/ca.crt" -days 2 -subj /CN=smoke-ca 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout "$work/api.key" -out "$work/api.csr" -subj /CN=kubernetes 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' > "$work/api.ext"
openssl x509 -req -in "$work/api.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" -CAcreateserial -out "$work/api.crt" -days 2 -extfile "$work/api.ext" 2>/dev/null

# One run of the checks: $1 names how the proxy reaches the API server (url, kubeconfig, in-cluster).
scenario() {
  local mode=$1 api listen admin kube api_args=() run=()
  api=$(free_port); listen=$(free_port); admin=$(free_port)
  case $mode in
    url) kube="\"ApiServer\": \"http://127.0.0.1:$api\"" ;;
    kubeconfig)
      cat > "$work/kubeconfig" <<CONF
apiVersion: v1
kind: Config
clusters:
- name: smoke
  cluster: { server: "http://127.0.0.1:$api" }
users:
- name: smoke
  user: { token: kubeconfig-token }
contexts:
- name: smoke
  context: { cluster: smoke, user: smoke, namespace: prod }
current-context: smoke
CONF
      kube="\"KubeConfigPath\": \"$work/kubeconfig\""; api_args=(--token kubeconfig-token) ;;
    in-cluster)
      mkdir -p "$work/serviceaccount"
      cp "$work/ca.crt" "$work/serviceaccount/ca.crt"; printf 'service-account-token' > "$work/serviceaccount/token"; printf 'prod' > "$work/serviceaccount/namespace"
      kube=""; api_args=(--token service-account-token --tls "$work/api.crt" "$work/api.key")
      # The kubelet's files at their fixed path, in a mount namespace of the proxy's own: nothing on the machine changes.
      run=(env KUBERNETES_SERVICE_HOST=127.0.0.1 "KUBERNETES_SERVICE_PORT=$api" unshare --user --map-root-user --mount
           bash -c 'mount -t tmpfs tmpfs /run && mkdir -p /run/secrets/kubernetes.io && cp -r "$0" /run/secrets/kubernetes.io/serviceaccount && exec "$1" --config "$2"'
           "$work/serviceaccount") ;;
  esac
  cat > "$work/proxy-$mode.json" <<CONF
{ "Logging": { "LogLevel": { "Default": "Warning" } }, "DemoBackends": { "Count": 0 },
  "Kubernetes": { $kube },
  "Proxy": { "Listeners": [ { "Url": "http://127.0.0.1:$listen" } ], "Admin": { "Url": "http://127.0.0.1:$admin" },
    "Routes": [ { "Path": "/", "Cluster": "shop" } ],
    "Clusters": { "shop": { "Algorithm": "RoundRobin", "Kubernetes": { "Namespace": "prod", "Service": "shop", "Port": "http" } } } } }
CONF

  local api_pid proxy_pid
  python3 tests/NativeAot/fake_api.py "$api" "$upstream" "${api_args[@]}" 2>"$work/api-$mode.log" & api_pid=$!; pids+=($api_pid)
  if [ ${#run[@]} -eq 0 ]; then
    timeout 120 "$work/aot/ProxyHost" --config "$work/proxy-$mode.json" >"$work/proxy-$mode.log" 2>&1 & proxy_pid=$!
  else
    timeout 120 "${run[@]}" "$work/aot/ProxyHost" "$work/proxy-$mode.json" >"$work/proxy-$mode.log" 2>&1 & proxy_pid=$!
  fi
  pids+=($proxy_pid)

  fail() { echo "NativeAOT smoke ($mode): FAILED: $1"; echo "--- proxy log"; tail -20 "$work/proxy-$mode.log"; echo "--- API server log"; tail -20 "$work/api-$mode.log"; echo "--- backends"; curl -s "127.0.0.1:$admin/backends" | head -c 3000; echo; echo "--- upstream log"; cat "$work/upstream.log"; exit 1; }
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
  local malformed
  malformed=$(metric 'lb_kubernetes_malformed_objects_total{namespace="prod"}')
  [ -z "$malformed" ] || [ "$malformed" = "0" ] || fail "watch lines were skipped as malformed ($malformed)"
  if [ ${#api_args[@]} -gt 0 ] && grep -q "^401 " "$work/api-$mode.log"; then fail "the API server refused the proxy's credentials"; fi
  kill "$proxy_pid" "$api_pid" 2>/dev/null || true
  wait "$proxy_pid" "$api_pid" 2>/dev/null || true
  echo "NativeAOT smoke ($mode): passed"
}

scenario url
scenario kubeconfig
if unshare --user --map-root-user --mount true 2>/dev/null; then
  scenario in-cluster
else
  # Like the browser test without a browser: said plainly, not failed, since the machine cannot run it.
  echo "NativeAOT smoke (in-cluster): SKIPPED: this machine refuses user and mount namespaces (unshare), which the in-cluster run needs"
fi
tests/NativeAot/controllers.sh "$work/aot/ProxyHost"
echo "NativeAOT smoke: passed"
