"""bench/load/run.sh --floor, the client side: what the proxy's upstream connections cost per request with nothing
else around them. `LoadBalancing.Benchmarks client-floor` drives keep-alive GETs over the proxy's own UpstreamSocket
(socket, pipes, send and receive loops; 128 connections, one request at a time each) to the nginx upstream, and
wrk (C, one thread on epoll) does the same as the native reference. Each pinned to core 0, the upstream on core 1;
CPU per request from the client's own CPU time. Added to the server floor (Kestrel answering by itself) it gives
the socket-layer floor under a proxy on Kestrel and System.Net.Sockets."""
import os, re, resource, subprocess
from harness import *

DURATION = 4
REPS = 3

upstreams, _, upstream = start_upstream()
results = {"ours-client": [], "wrk": []}
try:
    pin(upstream, "1")
    # Ours: one process, 20 s of warm-up (tiered PGO's plateau), then REPS windows.
    client = subprocess.run(["taskset", "-c", "0", "dotnet", BENCH_DLL, "client-floor", upstreams[0], "128", str(DURATION), str(REPS)],
                            capture_output=True, text=True, env={**os.environ, **SHIPPED_SOCKETS, **OURS_ENV}, timeout=120)
    results["ours-client"] = client_windows(client.stdout)
    if not results["ours-client"]:
        raise SystemExit("client-floor printed nothing:\n" + client.stdout + client.stderr[-2000:])
    for _ in range(REPS):
        # wrk's CPU from the kernel's accounting of waited-for children (its /proc entry is gone once it exits).
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = subprocess.run(["taskset", "-c", "0", "wrk", "-t", "1", "-c", "128", "-d", f"{DURATION}s", f"http://{upstreams[0]}/"],
                             capture_output=True, text=True, timeout=60).stdout
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        results["wrk"].append({"rps": rps, "per_cpu": rps * DURATION / cpu})
finally:
    stop_everything()

KINDS = {"ours-client": "the proxy's UpstreamSocket (System.Net.Sockets, pipes, send and receive loops), 128 connections",
         "wrk": "wrk 4.1: C, one thread on epoll, 128 connections"}
lines = [f"{machine()} Client side: {REPS} windows of {DURATION} s (ours after 20 s of warm-up), pinned (the client on core 0, the nginx "
         "upstream on core 1); median (min–max).", "",
         "| client | what it is | requests/s | requests per CPU-s | µs of CPU per request |", "| --- | --- | --- | --- | --- |"]
for name, runs in results.items():
    eff = med([r["per_cpu"] for r in runs])
    lines.append(f"| {name} | {KINDS[name]} | {fmt(med([r['rps'] for r in runs]))} | {fmt(eff)} | {1e6 / eff[0]:.1f} |")
text = "\n".join(lines)
print()
print(text)
open(os.path.join(ROOT, "bench/load/floor-client-results.md"), "w").write(text + "\n")
