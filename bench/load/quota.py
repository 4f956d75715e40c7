"""bench/load/run.sh --quota: ours on both transports inside a container-like CPU quota (a cgroup's CFS quota, as a
Kubernetes CPU limit sets it), unpinned, c = 128. .NET sizes itself from the quota (Environment.ProcessorCount is the
limit rounded up, so the event loop starts that many loops); the kernel throttles a cgroup that spends its quota
before the period ends, and a throttled proxy answers nothing until the next period. For each quota (LB_QUOTA_CPUS,
default "1,1.5") both transports run in alternating order, twice, each a fresh process with 4 runs of 6 s after a
10 s warm-up. Needs root and the cgroup filesystem (v1's cpu controller or v2 with cpu enabled)."""
import os
from harness import *

QUOTAS = [float(q) for q in os.environ.get("LB_QUOTA_CPUS", "1,1.5").split(",")]
PERIOD_US = 100_000
RUNS, DURATION, WARMUP, ROUNDS = 4, 6, 10, 2
TRANSPORTS = ["Sockets", "EventLoop"]


def cgroup():
    """A fresh cgroup for the proxy and the function that sets its quota."""
    v1 = "/sys/fs/cgroup/cpu"
    if os.path.isfile(os.path.join(v1, "cpu.cfs_quota_us")):
        path = os.path.join(v1, "lb-quota")
        os.makedirs(path, exist_ok=True)
        def set_quota(cpus):
            open(os.path.join(path, "cpu.cfs_period_us"), "w").write(str(PERIOD_US))
            open(os.path.join(path, "cpu.cfs_quota_us"), "w").write(str(int(cpus * PERIOD_US)))
        return path, set_quota, "tasks"
    root = "/sys/fs/cgroup"
    if os.path.isfile(os.path.join(root, "cgroup.controllers")):
        if "cpu" not in open(os.path.join(root, "cgroup.subtree_control")).read().split():
            open(os.path.join(root, "cgroup.subtree_control"), "w").write("+cpu")
        path = os.path.join(root, "lb-quota")
        os.makedirs(path, exist_ok=True)
        def set_quota(cpus):
            open(os.path.join(path, "cpu.max"), "w").write(f"{int(cpus * PERIOD_US)} {PERIOD_US}")
        return path, set_quota, "cgroup.procs"
    raise SystemExit("--quota needs the cgroup filesystem with a cpu controller (and root)")


def throttled(path):
    for line in open(os.path.join(path, "cpu.stat")):
        if line.startswith("nr_throttled"):
            return int(line.split()[1])
    return 0


path, set_quota, tasks = cgroup()
upstreams, _, upstream = start_upstream()
results = {}
try:
    for cpus in QUOTAS:
        set_quota(cpus)
        for round_ in range(ROUNDS):
            for transport in TRANSPORTS if round_ % 2 == 0 else reversed(TRANSPORTS):
                # The process joins the cgroup before it execs ProxyHost, so .NET reads the quota at start, as in a container.
                cmd = ["sh", "-c", f'echo $$ > {os.path.join(path, tasks)} && exec "$0" "$@"'] + ours_cmd()
                port, proc = start_ours(f"ours-{transport}", "RoundRobin", upstreams, cmd=cmd, transport=transport)
                ready({transport: {"port": port, "proc": proc}})
                wrk(port, 128, WARMUP, False)
                for _ in range(RUNS):
                    before, periods = cpu_seconds(proc), throttled(path)
                    r = wrk(port, 128, DURATION, False)
                    r["per_cpu"] = r["rps"] * DURATION / max(cpu_seconds(proc) - before, 1e-9)
                    r["throttled"] = throttled(path) - periods
                    results.setdefault((cpus, transport), []).append(r)
                    print(f"{cpus:g} CPU {transport:9} {r['rps']:>9,.0f} req/s  p99 {r['p99']:6.2f} ms  throttled periods {r['throttled']:3}", flush=True)
                proc.terminate()
                proc.wait(30)
finally:
    stop_everything()

rows = [f"{machine()}", "", f"CPU quota (CFS, period {PERIOD_US // 1000} ms), unpinned, c = 128, {ROUNDS * RUNS} runs of {DURATION} s each; medians (min–max)", "",
        "| quota | transport | requests/s | requests per CPU-second | p99 ms | throttled periods per run | non-2xx |", "| --- | --- | --- | --- | --- | --- | --- |"]
for (cpus, transport), rs in results.items():
    rows.append(f"| {cpus:g} CPU | {transport} | {fmt(med([r['rps'] for r in rs]))} | {fmt(med([r['per_cpu'] for r in rs]))} | "
                f"{fmt(med([r['p99'] for r in rs]), 2)} | {fmt(med([r['throttled'] for r in rs]))} | {sum(r['non2xx'] for r in rs)} |")
print("\n".join(rows))
