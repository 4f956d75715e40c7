"""bench/load/run.sh --coldstart: how long each proxy takes from process start to 90 % of its steady requests per
second under saturation. Our NativeAOT host (as `dotnet publish samples/ProxyHost -c Release` makes it), our JIT host
(both on Kestrel's socket transport), the NativeAOT host on the event loop ("ours-aot-ev", its default on Linux) and
YARP, one at a time, REPS times in interleaved order: start the process (pinned to core 0, wrk and the nginx
upstream on core 1), wait for its port, then run wrk (c = 128) in back-to-back 1 s slices. Steady is the median of
the last STEADY slices; the time to 90 % is from the process start to the end of the first slice at or above 90 % of
it (so the resolution is one slice)."""
import os, statistics, time
from harness import *

SLICES = 30
STEADY = 5
REPS = 3
AOT = os.environ.get("LB_AOT_EXE")
JIT_DLL = os.path.join(ROOT, "samples/ProxyHost/bin/Release/net10.0/ProxyHost.dll")
YARP_DLL = os.path.join(ROOT, "bench/load/peers/YarpHost/bin/Release/net10.0/YarpHost.dll")
if not AOT:
    sys.exit("LB_AOT_EXE is not set: run this through bench/load/run.sh --coldstart, which publishes the host")

upstreams, _, upstream = start_upstream()
pin(upstream, "1")


def start_contender(name):
    if name == "ours-aot-ev":
        # The event loop (the host's default on Linux) started on core 0: one loop, as a one-CPU container starts.
        return start_ours(name, "RoundRobin", upstreams, cmd=["taskset", "-c", "0", AOT], transport="EventLoop")
    if name == "ours-aot":
        return start_ours(name, "RoundRobin", upstreams, cmd=[AOT])
    if name == "ours-jit":
        return start_ours(name, "RoundRobin", upstreams, cmd=["dotnet", JIT_DLL])
    port = free_port()
    return port, start(name, ["dotnet", YARP_DLL, "--port", str(port), "--upstreams", ",".join(upstreams)])


results = {}
try:
    for rep in range(REPS):
        for name in ["ours-aot-ev", "ours-aot", "ours-jit", "yarp"]:
            t0 = time.monotonic()
            port, proc = start_contender(name)
            pin(proc, "0")
            wait_port(port, timeout=30)
            opened = time.monotonic() - t0
            pin(proc, "0")  # threads started while it opened its port
            require_alive(name, proc)
            slices = []
            for _ in range(SLICES):
                r = wrk(port, 128, 1, True)
                slices.append((time.monotonic() - t0, r["rps"]))
            steady = statistics.median(rps for _, rps in slices[-STEADY:])
            reached = next(t for t, rps in slices if rps >= 0.9 * steady)
            first = slices[0][1] / steady
            results.setdefault(name, []).append({"opened": opened, "t90": reached, "steady": steady, "first": first})
            print(f"rep {rep + 1} {name:9} port open {opened:5.2f} s  90 % at {reached:5.2f} s  steady {steady:8.0f} req/s  "
                  f"first slice {first * 100:3.0f} %  slices {' '.join(f'{rps / steady * 100:.0f}' for _, rps in slices[:12])} ...", flush=True)
            os.killpg(os.getpgid(proc.pid), signal.SIGTERM)
            proc.wait(10)
            started.remove(proc)
finally:
    stop_everything()

# machine() names one build of ours; this run has both, so that part of its line is dropped.
lines = [f"{machine().rsplit(' ours: ', 1)[0]} Cold start (ours: NativeAOT and JIT): {REPS} runs per contender, interleaved; median (min–max).", "",
         "| contender | port open s | 90 % of steady at s | first 1 s slice, % of steady | steady requests/s |",
         "| --- | --- | --- | --- | --- |"]
for name, rs in results.items():
    lines.append(f"| {name} | {fmt(med([r['opened'] for r in rs]), 2)} | {fmt(med([r['t90'] for r in rs]), 1)} | "
                 f"{fmt(med([r['first'] * 100 for r in rs]))} | {fmt(med([r['steady'] for r in rs]))} |")
text = "\n".join(lines)
print()
print(text)
open(os.path.join(ROOT, "bench/load/results-coldstart.md"), "w").write(text + "\n")
