"""bench/load/run.sh --grpc: gRPC unary calls through our ProxyHost against YARP, in one run. Three gRPC backends
(bench/load/grpc/GrpcBackend, h2c) on 127.0.0.2-4, each proxy with an HTTP/2-only listener and an HTTP/2 cluster
over the three, round-robin (ours also peak-EWMA). The load client (bench/load/grpc/GrpcLoad) runs the same load
against each contender in interleaved order (A B C A B C ...); the proxy's CPU time is read from /proc at the start
and the end of the client's measured window. Prints medians with min-max and the ratio against YARP."""
import json, os, subprocess, sys
from harness import *

DURATION = 5
WARMUP = 1
# The .NET proxies' JIT tiers and pools settle before anything is measured (one client run each).
WARMUP_PROXIES = 10
REPS = 3
CALLERS = 64
CHANNELS = 4
BACKENDS = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
BIN = "bin/Release/net10.0"
backend_dll = os.path.join(ROOT, "bench/load/grpc/GrpcBackend", BIN, "GrpcBackend.dll")
load_dll = os.path.join(ROOT, "bench/load/grpc/GrpcLoad", BIN, "GrpcLoad.dll")

load_at_start = open("/proc/loadavg").read().split()[:3]
backends = []
for i, ip in enumerate(BACKENDS):
    port = free_port(ip)
    backends.append((f"{ip}:{port}", start(f"backend-{i + 1}", ["dotnet", backend_dll, f"{ip}:{port}"])))
for i, (address, proc) in enumerate(backends):
    ip, port = address.rsplit(":", 1)
    wait_port(int(port), host=ip)
    require_alive(f"backend-{i + 1}", proc)
upstreams = [a for a, _ in backends]

contenders = {}
for name, started_at in [("ours-rr", start_ours("ours-rr", "RoundRobin", upstreams, ', "Protocol": "Http2"', protocols="Http2")),
                         ("ours-ewma", start_ours("ours-ewma", "PeakEwma", upstreams, ', "Protocol": "Http2"', protocols="Http2")),
                         ("yarp", start_yarp(upstreams, grpc=True))]:
    contenders[name] = {"port": started_at[0], "proc": started_at[1], "runs": []}
ready(contenders)
contenders = {"direct": {"port": int(upstreams[0].rsplit(":", 1)[1]), "host": BACKENDS[0], "proc": None, "runs": []}, **contenders}
order = list(contenders)


def call_load(cont, duration, warmup):
    """Runs the load client (on core 1) against a contender; returns its figures and the proxy's CPU seconds in the
    measured window."""
    args = ["taskset", "-c", "1", "timeout", str(int(warmup + duration + 60)), "dotnet", load_dll,
            "--target", f"{cont.get('host', '127.0.0.1')}:{cont['port']}", "--callers", str(CALLERS), "--channels", str(CHANNELS),
            "--warmup", str(warmup), "--duration", str(duration)]
    client = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=open(os.path.join(work, "client.err"), "a"), text=True, start_new_session=True)
    started.append(client)
    before = after = None
    result = None
    try:
        for line in client.stdout:
            line = line.strip()
            if line == "measuring":
                before = cpu_seconds(cont["proc"]) if cont["proc"] else 0
            elif line == "stopped":
                after = cpu_seconds(cont["proc"]) if cont["proc"] else 0
            elif line.startswith("{"):
                result = json.loads(line)
        client.wait(30)
    finally:
        started.remove(client)
    if result is None or before is None or after is None:
        raise SystemExit(f"the load client gave no figures (exit {client.returncode}):\n" + open(os.path.join(work, "client.err")).read()[-2000:])
    result["cpu"] = (after - before) if cont["proc"] else float("nan")
    return result


try:
    for _, p in backends:
        pin(p, "1")
    for name in order:
        if contenders[name]["proc"]:
            pin(contenders[name]["proc"], "0")
    for name in order:
        if contenders[name]["proc"]:
            call_load(contenders[name], WARMUP_PROXIES, 1)
    for rep in range(REPS):
        for name in order:
            cont = contenders[name]
            r = call_load(cont, DURATION, WARMUP)
            cont["runs"].append(r)
            print(f"rep {rep + 1} {name:10} {r['rps']:>9.0f} calls/s  p99 {r['p99']:7.2f} ms  cpu {r['cpu']:.2f} s"
                  f"{'  ERRORS ' + str(r['errors']) + ' ' + str(r['first_error']) if r['errors'] else ''}", flush=True)
finally:
    peaks = {name: peak_rss_mib(c["proc"]) for name, c in contenders.items() if c["proc"]}
    stop_everything()

load_at_end = open("/proc/loadavg").read().split()[:3]
model = open("/proc/cpuinfo").read().split("model name")[1].split(":")[1].splitlines()[0].strip()
dotnet = subprocess.run(["dotnet", "--version"], capture_output=True, text=True).stdout.strip()
per_cpu = {name: med([r["rps"] * r["seconds"] / r["cpu"] for r in c["runs"] if r["cpu"] == r["cpu"] and r["cpu"] > 0]) for name, c in contenders.items()}
lines = [f"Machine: {os.cpu_count()} CPUs, {model}; dotnet {dotnet}; ours: {'NativeAOT' if OURS_EXE else 'JIT (framework-dependent)'}; "
         f"load average {' '.join(load_at_start)} at the start, {' '.join(load_at_end)} at the end. "
         f"Unary calls, 13-byte messages, {CALLERS} callers over {CHANNELS} HTTP/2 connections (GrpcLoad), {len(BACKENDS)} backends; "
         f"each proxy pinned to core 0, the client and the backends to core 1; {REPS} run(s) of {DURATION} s each after "
         f"{WARMUP} s of warm-up, interleaved, after {WARMUP_PROXIES} s of warm-up for each proxy; median (min–max).", "",
         "| contender | calls/s | p50 ms | p99 ms | proxy CPU s | calls per proxy CPU-s | vs YARP | peak RSS MiB | errors |",
         "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
for name in order:
    runs = contenders[name]["runs"]
    errors = sum(r["errors"] for r in runs)
    if name == "direct":
        lines.append(f"| direct (no proxy, one backend) | {fmt(med([r['rps'] for r in runs]))} | {fmt(med([r['p50'] for r in runs]), 2)} | {fmt(med([r['p99'] for r in runs]), 2)} | – | – | – | – | {errors} |")
        continue
    eff = per_cpu[name]
    lines.append(f"| {name} | {fmt(med([r['rps'] for r in runs]))} | {fmt(med([r['p50'] for r in runs]), 2)} | {fmt(med([r['p99'] for r in runs]), 2)} | "
                 f"{fmt(med([r['cpu'] for r in runs]), 2)} | {fmt(eff)} | {eff[0] / per_cpu['yarp'][0]:.2f}× | {peaks.get(name, float('nan')):.1f} | {errors} |")
lines += ["", f"Target: calls per proxy CPU-second ≥ 1.5× YARP's = {1.5 * per_cpu['yarp'][0]:,.0f}; "
              f"ours-rr {per_cpu['ours-rr'][0] / per_cpu['yarp'][0]:.2f}×, ours-ewma {per_cpu['ours-ewma'][0] / per_cpu['yarp'][0]:.2f}×."]
text = "\n".join(lines)
print()
print(text)
open(os.path.join(ROOT, "bench/load/results-grpc.md"), "w").write(text + "\n")
