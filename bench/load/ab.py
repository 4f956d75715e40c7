"""bench/load/run.sh --ab: one change's effect on our proxy's requests per CPU-second, as a ratio from one run. Two
ProxyHosts, "a" and "b", side by side: the same build with different environments (LB_AB_ENV_A, LB_AB_ENV_B: JSON
objects of environment variables added to the harness's), b built from another commit (LB_BASELINE_DLL, as
baseline.sh sets it), or b another executable (LB_AB_EXE_B, say a NativeAOT host published with other settings; a is
LB_OURS_EXE when set). Pinned (the proxy on core 0, wrk -c128 and the upstream on core 1), each warmed up for 20 s,
then PAIRS (LB_AB_PAIRS) interleaved pairs of 4 s runs (a b, b a, ...). Short alternating runs let a neighbour's load fall on both
alike; the median of the per-pair ratios is the answer, and its spread says how far to trust it."""
import json, os
from harness import *

PAIRS = int(os.environ.get("LB_AB_PAIRS", "8"))
DURATION = 4
WARMUP = 20

env_a = json.loads(os.environ.get("LB_AB_ENV_A", "{}"))
env_b = json.loads(os.environ.get("LB_AB_ENV_B", "{}"))
EXE_B = os.environ.get("LB_AB_EXE_B")
# LB_AB_TRANSPORT=EventLoop: both on the event-loop transport (give both DOTNET_PROCESSOR_COUNT=1 for one loop each).
# LB_AB_TRANSPORT_B: b alone on this transport, a on LB_AB_TRANSPORT's (the two transports against each other).
TRANSPORT = os.environ.get("LB_AB_TRANSPORT")
TRANSPORT_B = os.environ.get("LB_AB_TRANSPORT_B") or TRANSPORT
# LB_AB_TLS=1: both listen with TLS (a self-signed certificate; wrk resumes no sessions, each connection handshakes
# once and then keeps alive), so the ratio includes Kestrel's TLS layer over each transport.
TLS = os.environ.get("LB_AB_TLS") == "1"
SCHEME = "https" if TLS else "http"
upstreams, many_addresses, upstream = start_upstream()
# LB_AB_ENDPOINTS=1000: both proxies balance over the 1,000-endpoint cluster (each its own loopback address).
if os.environ.get("LB_AB_ENDPOINTS") == "1000":
    upstreams = many_addresses
# LB_AB_ENDPOINTS_B=1000: b alone over the 1,000 endpoints, a over the three: what the cluster's size costs one build.
upstreams_b = many_addresses if os.environ.get("LB_AB_ENDPOINTS_B") == "1000" else upstreams
# LB_AB_CONNECTIONS: wrk's connections (default 128; the 1,000-endpoint target is stated at 32).
CONNECTIONS = int(os.environ.get("LB_AB_CONNECTIONS", "128"))
# LB_AB_HEADER_B: request fields wrk sends to b alone ("X-User: user-42", as the maglev contenders get; "browser" for
# a browser's ten; several separated by "|"): what carrying them costs, with a and b otherwise the same.
# LB_AB_HEADERS: fields sent to both, to measure a change to the header path under a realistic request.
HEADER_B = os.environ.get("LB_AB_HEADER_B")
HEADERS = header_fields(os.environ.get("LB_AB_HEADERS"))
headers = {"a": HEADERS, "b": header_fields(HEADER_B) or HEADERS}


def start_variant(name, env, cmd=None, endpoints=None, transport=TRANSPORT):
    saved = dict(OURS_ENV)
    OURS_ENV.update(env)
    try:
        return start_ours(name, "RoundRobin", endpoints or upstreams, cmd=cmd, transport=transport, tls=TLS)
    finally:
        OURS_ENV.clear()
        OURS_ENV.update(saved)


cmd_b = [EXE_B] if EXE_B else ["dotnet", BASELINE_DLL] if BASELINE_DLL else None
contenders = {"a": dict(zip(("port", "proc"), start_variant("ours-a", env_a))),
              "b": dict(zip(("port", "proc"), start_variant("ours-b", env_b, cmd_b, upstreams_b, TRANSPORT_B)))}
ready(contenders)
runs = {"a": [], "b": []}
try:
    pin(upstream, "1")
    for c in contenders.values():
        pin(c["proc"], "0")
    for name, c in contenders.items():
        wrk(c["port"], CONNECTIONS, WARMUP, True, headers[name], scheme=SCHEME)
    for i in range(PAIRS):
        for name in (("a", "b") if i % 2 == 0 else ("b", "a")):
            c = contenders[name]
            before = cpu_seconds(c["proc"])
            r = wrk(c["port"], CONNECTIONS, DURATION, True, headers[name], scheme=SCHEME)
            r["per_cpu"] = r["rps"] * DURATION / max(cpu_seconds(c["proc"]) - before, 1e-9)
            runs[name].append(r)
        print(f"pair {i + 1}: a {runs['a'][-1]['per_cpu']:,.0f}  b {runs['b'][-1]['per_cpu']:,.0f} requests per CPU-s  "
              f"b/a {runs['b'][-1]['per_cpu'] / runs['a'][-1]['per_cpu']:.3f}", flush=True)
    peaks = {name: peak_rss_mib(c["proc"]) for name, c in contenders.items()}
finally:
    stop_everything()

ratios = [b["per_cpu"] / a["per_cpu"] for a, b in zip(runs["a"], runs["b"])]
print(f"\n{machine()}\na = {json.dumps(env_a)}; b = {json.dumps(env_b)}{' at ' + cmd_b[-1] if cmd_b else ''}"
      f"{'; b over 1,000 endpoints' if upstreams_b is not upstreams else ''}{'; b sent ' + repr(HEADER_B) if HEADER_B else ''}{'; both sent ' + os.environ['LB_AB_HEADERS'] if HEADERS else ''}; c = {CONNECTIONS}"
      f"; transport a {TRANSPORT or 'Sockets'}, b {TRANSPORT_B or 'Sockets'}{'; TLS listeners' if TLS else ''}")
for name in ("a", "b"):
    print(f"{name}: {fmt(med([r['per_cpu'] for r in runs[name]]))} requests per CPU-s, p99 {fmt(med([r['p99'] for r in runs[name]]), 2)} ms, "
          f"non-2xx {sum(r['non2xx'] for r in runs[name])}, peak RSS {peaks[name]:.1f} MiB")
print(f"b / a, median of {PAIRS} pairs: {fmt(med(ratios), 3)}")
