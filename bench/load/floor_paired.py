"""bench/load/run.sh --floor-paired: the proxying above the socket layer's floor, from rounds in which the host's speed
cannot drift between the terms. `--floor` measures the server side (Kestrel answering by itself) and then the client
side (the proxy's upstream connections alone) minutes apart; this host's speed has changed by half in between. Here
each round measures, back to back on core 0, our ProxyHost (socket transport, round-robin) as a proxy, the Kestrel
floor server, and the proxy's upstream client (`LoadBalancing.Benchmarks client-floor ... stdin`, paused between its
windows), in an order that rotates from round to round; every round gives its own difference
    proxy − (server + client), in µs of CPU per request,
and the answer is the median of the rounds' differences with their spread. The upstream and wrk run on core 1."""
import os, subprocess
from harness import *

DURATION = 4
ROUNDS = int(os.environ.get("LB_FLOOR_ROUNDS", "10"))
WARMUP_DOTNET = 20

upstreams, _, upstream = start_upstream()
contenders = {name: dict(zip(("port", "proc"), started)) for name, started in
              (("ours-rr", start_ours("ours-rr", "RoundRobin", upstreams)), ("kestrel", start_floor("kestrel", "kestrel")))}
ready(contenders)
client = subprocess.Popen(["taskset", "-c", "0", "dotnet", BENCH_DLL, "client-floor", upstreams[0], "128", str(DURATION), "stdin"],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env={**os.environ, **SHIPPED_SOCKETS, **OURS_ENV})


def client_window():
    client.stdin.write(f"{DURATION}\n")
    client.stdin.flush()
    windows = client_windows(client.stdout.readline())
    if not windows:
        raise SystemExit("client-floor printed no window")
    return windows[0]


def server_window(name):
    cont = contenders[name]
    before = cpu_seconds(cont["proc"])
    r = wrk(cont["port"], 128, DURATION, True)
    r["per_cpu"] = r["rps"] * DURATION / (cpu_seconds(cont["proc"]) - before)
    return r


rounds = []
try:
    pin(upstream, "1")
    for c in contenders.values():
        pin(c["proc"], "0")
    for name in contenders:
        wrk(contenders[name]["port"], 128, WARMUP_DOTNET, True)
    if client.stdout.readline().strip() != "ready":  # after its own 20 s of warm-up
        raise SystemExit("client-floor did not start")
    kinds = ["ours-rr", "kestrel", "client"]
    for i in range(ROUNDS):
        order = kinds[i % 3:] + kinds[:i % 3]
        r = {kind: client_window() if kind == "client" else server_window(kind) for kind in order}
        us = {kind: 1e6 / r[kind]["per_cpu"] for kind in kinds}
        us["above"] = us["ours-rr"] - us["kestrel"] - us["client"]
        rounds.append(us)
        print(f"round {i + 1:2} ({', '.join(order)}): proxy {us['ours-rr']:.1f} µs, server {us['kestrel']:.1f}, client {us['client']:.1f}, "
              f"above the floor {us['above']:+.1f}", flush=True)
finally:
    client.stdin.close()
    client.wait(timeout=30)
    stop_everything()

lines = [f"{machine()} {ROUNDS} rounds, each measuring on core 0, back to back for {DURATION} s each, our ProxyHost as a proxy (socket "
         "transport, round-robin over three upstreams), Kestrel answering by itself, and the proxy's upstream client alone (128 "
         f"connections), in a rotating order, after {WARMUP_DOTNET} s of warm-up each; wrk c = 128 and the upstream on core 1. "
         "µs of CPU per request; median (min–max) over the rounds.", "",
         "| term | µs of CPU per request |", "| --- | --- |"]
for kind, label in (("ours-rr", "our proxy"), ("kestrel", "server side: Kestrel alone"), ("client", "client side: our upstream client alone"),
                    ("above", "**the proxying above the floor** (per round: proxy − server − client)")):
    m, lo, hi = med([r[kind] for r in rounds])
    lines.append(f"| {label} | {m:.1f} ({lo:.1f} to {hi:.1f}) |")
aboves = sorted(r["above"] for r in rounds)
lines += ["", f"Rounds above the floor, sorted: {', '.join(f'{a:+.1f}' for a in aboves)} µs."]
text = "\n".join(lines)
print()
print(text)
open(os.path.join(ROOT, "bench/load/floor-paired-results.md"), "w").write(text + "\n")
