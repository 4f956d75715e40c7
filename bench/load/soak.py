"""bench/load/run.sh --soak: is resident memory flat under load? Our ProxyHost, YARP and nginx, one at a time, each
under 60 s of wrk -c128 (pinned: the proxy on core 0, wrk and the upstream on core 1), with VmRSS sampled every
5 s from the proxy's start of load. Reports the series, the peak (VmHWM) and the growth after warm-up: the last
sample against the lowest one from the end of warm-up on (a runtime that gives memory back after warm-up and then
creeps up again shows as growth, not as a fall)."""
import os, sys, time
from harness import *

DURATION = 60
SAMPLE = 5
WARM = 15  # growth is measured from here: the first seconds fill pools, thread stacks and the JIT's code heap

upstreams, _, upstream = start_upstream()
contenders = {}
for name, started_at in [("ours-rr", start_ours("ours-rr", "RoundRobin", upstreams)), ("yarp", start_yarp(upstreams)),
                         ("nginx", start_nginx_proxy(upstreams))]:
    contenders[name] = {"port": started_at[0], "proc": started_at[1]}
ready(contenders)


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
        rps = wrk_result(load)["rps"]
        cpu = cpu_seconds(proc) - start_cpu
        results[name] = {"idle": idle, "series": series, "peak": peak_rss_mib(proc), "per_cpu": rps * DURATION / cpu if cpu > 0 else float("nan")}
        print(f"{name:8} idle {idle:.1f} MiB, every {SAMPLE} s: {', '.join(f'{v:.0f}' for v in series)}", flush=True)
finally:
    stop_everything()

warm_index = WARM // SAMPLE - 1
lines = [f"{machine()} {DURATION} s of wrk -c128 per contender, pinned; VmRSS every {SAMPLE} s (MiB).", "",
         f"| contender | idle | RSS every {SAMPLE} s under load | at {WARM} s | at {DURATION} s | growth after {WARM} s (last − lowest) | peak (VmHWM) | requests per CPU-s |",
         "| --- | --- | --- | --- | --- | --- | --- | --- |"]
for name, r in results.items():
    s = r["series"]
    lines.append(f"| {name} | {r['idle']:.1f} | {', '.join(f'{v:.0f}' for v in s)} | {s[warm_index]:.1f} | {s[-1]:.1f} | "
                 f"{s[-1] - min(s[warm_index:]):+.1f} | {r['peak']:.1f} | {r['per_cpu']:,.0f} |")
text = "\n".join(lines)
print()
print(text)
open(os.path.join(ROOT, "bench/load/soak-results.md"), "w").write(text + "\n")
