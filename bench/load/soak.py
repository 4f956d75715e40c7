"""bench/load/run.sh --soak: is resident memory flat under load? Each contender, one at a time, under wrk -c128
(pinned: the proxy on core 0, wrk and the upstream on core 1), with VmRSS sampled every 5 s from the proxy's start of
load. Reports the series, the peak (VmHWM), the growth after warm-up (the last sample against the lowest one from the
end of warm-up on: a runtime that gives memory back after warm-up and then creeps up again shows as growth, not as a
fall) and the slope after warm-up, least squares over every sample, in MiB per 10 minutes.

  --soak                       60 s each for our ProxyHost, YARP and nginx (about 3.5 minutes)
  --soak-minutes N             N minutes of load for our ProxyHost alone (a leak shows as a slope, which one minute
                               cannot tell from warm-up); add --soak-peers to soak YARP and nginx for N minutes too
Ours is "ours-ev" (the event-loop transport, ProxyHost's default on Linux, started on core 0: one loop) and, in the
60-second soak, "ours-rr" on Kestrel's socket transport too; LB_SOAK_TRANSPORT=Sockets makes a long soak the socket
transport's. With run.sh --aot, ours is the NativeAOT executable."""
import os, sys, time
from harness import *


def minutes_arg():
    for i, arg in enumerate(sys.argv):
        if arg.startswith("--soak-minutes="):
            return float(arg.split("=", 1)[1])
        if arg == "--soak-minutes" and i + 1 < len(sys.argv):
            return float(sys.argv[i + 1])
    return None


MINUTES = minutes_arg()
DURATION = round(MINUTES * 60) if MINUTES else 60
SAMPLE = 5
# Growth and slope are measured from here: the first seconds fill pools, thread stacks and (JIT) the code heap, and
# the GC settles its budgets over the first minute of a long run.
WARM = 15 if DURATION <= 60 else 60
PEERS = MINUTES is None or "--soak-peers" in sys.argv
if DURATION < WARM + 4 * SAMPLE:
    raise SystemExit(f"--soak-minutes: at least {(WARM + 4 * SAMPLE) / 60:.1f} minutes (warm-up, then enough samples for a slope)")


def slope_per_10_min(times, values):
    """Least-squares slope of values (MiB) over times (s), in MiB per 10 minutes."""
    n = len(times)
    mt, mv = sum(times) / n, sum(values) / n
    var = sum((t - mt) ** 2 for t in times)
    return sum((t - mt) * (v - mv) for t, v in zip(times, values)) / var * 600 if var > 0 else float("nan")


upstreams, _, upstream = start_upstream()
contenders = {}
event_loop = ("ours-ev", lambda: start_ours("ours-ev", "RoundRobin", upstreams, transport="EventLoop", cmd=["taskset", "-c", "0"] + ours_cmd()))
sockets = ("ours-rr", lambda: start_ours("ours-rr", "RoundRobin", upstreams))
if MINUTES is None:
    starts = [event_loop, sockets]
else:
    starts = [sockets if os.environ.get("LB_SOAK_TRANSPORT") == "Sockets" else event_loop]
if PEERS:
    starts += [("yarp", lambda: start_yarp(upstreams)), ("nginx", lambda: start_nginx_proxy(upstreams))]
for name, starter in starts:
    port, proc = starter()
    contenders[name] = {"port": port, "proc": proc}
ready(contenders)

print(f"{DURATION} s of load per contender ({', '.join(contenders)}), VmRSS every {SAMPLE} s; warm-up {WARM} s", flush=True)
results = {}
try:
    pin(upstream, "1")
    for name, cont in contenders.items():
        proc = cont["proc"]
        pin(proc, "0")
        idle = memory_mib(proc, "VmRSS")
        load = wrk_start(cont["port"], 128, DURATION, pinned=True)
        start_cpu, t0, series = cpu_seconds(proc), time.monotonic(), []
        for i in range(1, DURATION // SAMPLE + 1):
            time.sleep(max(0, t0 + i * SAMPLE - time.monotonic()))
            series.append(memory_mib(proc, "VmRSS"))
            if DURATION > 60 and i % (60 // SAMPLE) == 0:
                print(f"  {name} at {i * SAMPLE} s: {series[-1]:.1f} MiB", flush=True)
        rps = wrk_result(load)["rps"]
        cpu = cpu_seconds(proc) - start_cpu
        results[name] = {"idle": idle, "series": series, "peak": peak_rss_mib(proc), "per_cpu": rps * DURATION / cpu if cpu > 0 else float("nan")}
        print(f"{name:8} idle {idle:.1f} MiB, every {SAMPLE} s: {', '.join(f'{v:.0f}' for v in series)}", flush=True)
finally:
    stop_everything()

warm_index = WARM // SAMPLE - 1
# Up to 12 values in the table's series column, evenly spaced, so that a 30-minute soak stays one readable row.
shown_every = max(1, -(-len(next(iter(results.values()))["series"]) // 12))
lines = [f"{machine()} {DURATION} s of wrk -c128 per contender, pinned; VmRSS every {SAMPLE} s (MiB); slope: least squares over the samples after {WARM} s.", "",
         f"| contender | idle | RSS every {SAMPLE * shown_every} s under load | at {WARM} s | at {DURATION} s | growth after {WARM} s (last − lowest) | slope after {WARM} s, MiB per 10 min | peak (VmHWM) | requests per CPU-s |",
         "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
for name, r in results.items():
    s = r["series"]
    after = s[warm_index:]
    times = [SAMPLE * (warm_index + 1 + i) for i in range(len(after))]
    lines.append(f"| {name} | {r['idle']:.1f} | {', '.join(f'{v:.0f}' for v in s[shown_every - 1::shown_every])} | {s[warm_index]:.1f} | {s[-1]:.1f} | "
                 f"{s[-1] - min(after):+.1f} | {slope_per_10_min(times, after):+.2f} | {r['peak']:.1f} | {r['per_cpu']:,.0f} |")
text = "\n".join(lines)
print()
print(text)
open(os.path.join(ROOT, "bench/load/soak-results.md"), "w").write(text + "\n")
