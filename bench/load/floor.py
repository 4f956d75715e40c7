"""bench/load/run.sh --floor: how far below the targets the socket layer itself is. Servers that answer every
request with a fixed 13-byte response and do nothing else (no proxying), one per socket layer, measured like the
proxies (pinned to core 0, wrk c = 128 on core 1), interleaved with our ProxyHost, YARP and nginx as proxies in
the same run. No proxy on a layer can cost less CPU per request than a server on it that does nothing. Also the
least a proxy on an event loop of its own costs (epoll-proxy: forwards and relays, nothing more)."""
import os, sys
from harness import *

DURATION = 4
REPS = 3
# Tiered PGO needs tens of seconds under load to reach its plateau (docs/benchmarks.md, warm-up).
WARMUP_DOTNET = 20

upstreams, _, upstream = start_upstream()


def start_nginx_server():
    port = free_port()
    conf = os.path.join(work, "nginx-server.conf")
    open(conf, "w").write(f"""worker_processes 1; master_process off; daemon off; pid {work}/server.pid; error_log {work}/server.log warn;
events {{ worker_connections 4096; }}
http {{ access_log off; keepalive_requests 1000000; server {{ listen 127.0.0.1:{port}; location / {{ default_type text/plain; return 200 "Hello, World!"; }} }} }}
""")
    return port, start("nginx-server", ["nginx", "-c", conf])


KINDS = {
    "ours-rr": ("proxy", "our ProxyHost, round-robin over the three upstreams"),
    "ours-ev": ("proxy", "the same on the event-loop transport (Proxy:Transport = EventLoop)"),
    "yarp": ("proxy", "YARP 2.3.0"),
    "nginx": ("proxy", "nginx, 1 worker"),
    "epoll-proxy": ("proxy floor", "one thread on epoll (.NET), request heads passed through as they are, round-robin, pooled upstream connections"),
    "kestrel": ("server", "ASP.NET Core on Kestrel, a request delegate writes the body"),
    "kestrel-epoll": ("server", "the same on Kestrel over our event-loop transport (epoll thread per core, request inline on it)"),
    "transport": ("server", "Kestrel's socket transport, a connection handler, no HTTP layer"),
    "epoll": ("server", "one thread on epoll, raw recv and send (.NET, no System.Net.Sockets)"),
    "nginx-server": ("server", "nginx answering itself, 1 worker"),
}
contenders = {}
for name, started_at in [("ours-rr", start_ours("ours-rr", "RoundRobin", upstreams)),
                         ("ours-ev", start_ours("ours-ev", "RoundRobin", upstreams, transport="EventLoop")), ("yarp", start_yarp(upstreams)),
                         ("nginx", start_nginx_proxy(upstreams)), ("epoll-proxy", start_floor("epoll-proxy", "epoll-proxy", ",".join(upstreams))),
                         ("kestrel", start_floor("kestrel", "kestrel")), ("kestrel-epoll", start_floor("kestrel-epoll", "kestrel-epoll")),
                         ("transport", start_floor("transport", "transport")), ("epoll", start_floor("epoll", "epoll")),
                         ("nginx-server", start_nginx_server())]:
    contenders[name] = {"port": started_at[0], "proc": started_at[1], "runs": []}
ready(contenders)
order = list(KINDS)

try:
    pin(upstream, "1")
    for c in contenders.values():
        pin(c["proc"], "0")
    for name in order:
        if name not in ("nginx", "nginx-server"):
            wrk(contenders[name]["port"], 128, WARMUP_DOTNET, True)
    for rep in range(REPS):
        for name in order:
            cont = contenders[name]
            before = cpu_seconds(cont["proc"])
            r = wrk(cont["port"], 128, DURATION, True)
            r["cpu"] = cpu_seconds(cont["proc"]) - before
            cont["runs"].append(r)
            print(f"rep {rep + 1} {name:13} {r['rps']:>9.0f} req/s  cpu {r['cpu']:.2f} s {'NON-2XX ' + str(r['non2xx']) if r['non2xx'] else ''}", flush=True)
finally:
    stop_everything()

per_cpu = {name: med([r["rps"] * DURATION / r["cpu"] for r in c["runs"] if r["cpu"] > 0]) for name, c in contenders.items()}
lines = [f"{machine()} {REPS} run(s) of {DURATION} s each, interleaved, after {WARMUP_DOTNET} s of warm-up for each .NET process; "
         "pinned (each contender on core 0, wrk and the upstream on core 1), c = 128; median (min–max).", "",
         "| contender | what it does | requests/s | requests per CPU-s | µs of CPU per request | vs YARP (proxy) | vs nginx (proxy) | non-2xx |",
         "| --- | --- | --- | --- | --- | --- | --- | --- |"]
for name in order:
    runs = contenders[name]["runs"]
    eff = per_cpu[name]
    lines.append(f"| {name} | {KINDS[name][0]}: {KINDS[name][1]} | {fmt(med([r['rps'] for r in runs]))} | {fmt(eff)} | {1e6 / eff[0]:.1f} | "
                 f"{eff[0] / per_cpu['yarp'][0]:.2f}× | {eff[0] / per_cpu['nginx'][0]:.2f}× | {sum(r['non2xx'] for r in runs)} |")
lines += ["", f"Targets in this run: 2.5× YARP = {2.5 * per_cpu['yarp'][0]:,.0f} requests per CPU-second; nginx as a proxy = {per_cpu['nginx'][0]:,.0f}."]
text = "\n".join(lines)
print()
print(text)
open(os.path.join(ROOT, "bench/load/floor-results.md"), "w").write(text + "\n")
