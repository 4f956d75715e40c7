"""bench/load/run.sh --grpc: gRPC unary calls through our ProxyHost against YARP, in one run. Three gRPC backends
(bench/load/grpc/GrpcBackend, h2c) on 127.0.0.2-4, each proxy with an HTTP/2-only listener and an HTTP/2 cluster
over the three, round-robin (ours also peak-EWMA). The load client (bench/load/grpc/GrpcLoad) runs the same load
against each contender in interleaved order (A B C A B C ..., one client process for the whole run); the proxy's CPU time is read from /proc at the start
and the end of the client's measured window. Prints medians with min-max and the ratio against YARP."""
import json, os, subprocess, sys
from harness import *

DURATION = 5
WARMUP = 1
# The proxies' JIT tiers settle before anything is measured: the first round warms each up this long. After 10 s
# the JIT still took 16-22 % of a proxy's CPU samples in the measured window on this 2-vCPU host (perf); after 40 s,
# 2-10 %. The backends warm up with the proxies; the direct run gets the ordinary warm-up.
WARMUP_PROXIES = 30
REPS = 4
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
# bench/load/baseline.sh <commit> --grpc: ProxyHost built at that commit joins as "base-rr", so a change's cost on the
# HTTP/2 path reads as a ratio from one run.
baseline = [("base-rr", start_ours("base-rr", "RoundRobin", upstreams, ', "Protocol": "Http2"', protocols="Http2", cmd=["dotnet", BASELINE_DLL]))] if BASELINE_DLL else []
for name, started_at in [("ours-rr", start_ours("ours-rr", "RoundRobin", upstreams, ', "Protocol": "Http2"', protocols="Http2")),
                         ("ours-ewma", start_ours("ours-ewma", "PeakEwma", upstreams, ', "Protocol": "Http2"', protocols="Http2")),
                         *baseline,
                         ("yarp", start_yarp(upstreams, grpc=True))]:
    contenders[name] = {"port": started_at[0], "proc": started_at[1], "runs": []}
ready(contenders)
contenders = {"direct": {"port": int(upstreams[0].rsplit(":", 1)[1]), "host": BACKENDS[0], "proc": None, "runs": []}, **contenders}
order = list(contenders)


def run_load():
    """Runs the load client (on core 1) once over every contender, REPS rounds in interleaved order; the first
    round's warm-up is WARMUP_PROXIES long. Reads each proxy's CPU seconds (and each backend's) at the client's
    "measuring" and "stopped" lines."""
    targets = [f"{contenders[n].get('host', '127.0.0.1')}:{contenders[n]['port']}" for n in order]
    first = [WARMUP if contenders[n]["proc"] is None else WARMUP_PROXIES for n in order]
    budget = sum(first) + len(order) * ((REPS - 1) * WARMUP + REPS * (DURATION + 5)) + 60
    args = ["taskset", "-c", "1", "timeout", str(int(budget)), "dotnet", load_dll, "--targets", ",".join(targets), "--rounds", str(REPS),
            "--callers", str(CALLERS), "--channels", str(CHANNELS), "--warmup", str(WARMUP), "--first-warmup", ",".join(map(str, first)),
            "--duration", str(DURATION)]
    client = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=open(os.path.join(work, "client.err"), "w"), text=True, start_new_session=True)
    started.append(client)
    window = {}
    try:
        for line in client.stdout:
            word, _, rest = line.strip().partition(" ")
            if word == "measuring":
                cont = contenders[order[int(rest)]]
                window = {"cpu": cpu_seconds(cont["proc"]) if cont["proc"] else float("nan"), "backends": [cpu_seconds(p) for _, p in backends]}
            elif word == "stopped":
                cont = contenders[order[int(rest)]]
                window = {"cpu": (cpu_seconds(cont["proc"]) - window["cpu"]) if cont["proc"] else float("nan"),
                          # How the calls spread: each backend's CPU seconds in the window (about equal under round-robin).
                          "backends": [cpu_seconds(p) - b for (_, p), b in zip(backends, window["backends"])]}
            elif word.startswith("{"):
                r = json.loads(line)
                r.update(window)
                name = order[r["target"]]
                contenders[name]["runs"].append(r)
                print(f"rep {r['round'] + 1} {name:10} {r['rps']:>9.0f} calls/s  p99 {r['p99']:7.2f} ms  cpu {r['cpu']:.2f} s  "
                      f"backends {'/'.join(f'{b:.2f}' for b in r['backends'])} s"
                      f"{'  ERRORS ' + str(r['errors']) + ' ' + str(r['first_error']) if r['errors'] else ''}", flush=True)
        client.wait(30)
    finally:
        # A client still running (an error above) is left to stop_everything.
        if client.poll() is not None:
            started.remove(client)
    if client.returncode != 0 or any(len(contenders[n]["runs"]) != REPS for n in order):
        raise SystemExit(f"the load client stopped early (exit {client.returncode}):\n" + open(os.path.join(work, "client.err")).read()[-2000:])


began = time.time()
try:
    for _, p in backends:
        pin(p, "1")
    for name in order:
        if contenders[name]["proc"]:
            pin(contenders[name]["proc"], "0")
    run_load()
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
         f"{WARMUP} s of warm-up (each proxy's first: {WARMUP_PROXIES} s), interleaved; measured in {time.time() - began:.0f} s; median (min–max).", "",
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


def paired(name):
    # Each repetition's ratio against YARP's run of the same repetition (seconds apart), then their median: less
    # exposed to the host's drift than the ratio of medians.
    ratios = [(a["rps"] * a["seconds"] / a["cpu"]) / (y["rps"] * y["seconds"] / y["cpu"])
              for a, y in zip(contenders[name]["runs"], contenders["yarp"]["runs"]) if a["cpu"] > 0 and y["cpu"] > 0]
    return f"{fmt(med(ratios), 2)}× (by repetition: {', '.join(f'{x:.2f}' for x in ratios)})"


lines += ["", f"Target: calls per proxy CPU-second ≥ 1.5× YARP's = {1.5 * per_cpu['yarp'][0]:,.0f}. "
              f"Against YARP's run of the same repetition: ours-rr {paired('ours-rr')}; ours-ewma {paired('ours-ewma')}"
              f"{'; base-rr ' + paired('base-rr') if BASELINE_DLL else ''}."]
text = "\n".join(lines)
print()
print(text)
open(os.path.join(ROOT, "bench/load/results-grpc.md"), "w").write(text + "\n")
