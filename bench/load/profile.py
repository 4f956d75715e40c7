"""bench/load/run.sh --profile: where our proxy's CPU goes per request. ProxyHost (round-robin over the three nginx
upstreams) pinned to core 0, wrk -c128 (LB_PROFILE_CONNECTIONS) and the upstream on core 1, warmed up for 20 s (JIT: tiered PGO's plateau),
then `perf record -g` on the proxy for 8 s under the same load. Prints the requests per CPU-second of the recorded
window and the proxy's samples grouped by where they run (kernel, our assemblies, Kestrel, pipelines, sockets, the
runtime, ...) as shares and as microseconds of CPU per request, then the heaviest symbols. The JIT host runs with
the runtime's perf map so perf can name compiled code; NativeAOT binaries carry their own symbols (--aot). Last, the
system calls per request, ours beside nginx as a proxy over the same upstreams under the same load."""
import collections, os, re, subprocess, sys
from harness import *

WARMUP = int(os.environ.get("LB_PROFILE_WARMUP", "20"))
RECORD = 8
TOP = int(os.environ.get("LB_PROFILE_TOP", "40"))
CONNECTIONS = int(os.environ.get("LB_PROFILE_CONNECTIONS", "128"))
# LB_PROFILE_HEADERS: request fields wrk sends ("browser" for a browser's ten, or fields separated by "|").
HEADERS = header_fields(os.environ.get("LB_PROFILE_HEADERS"))

# A symbol's group: by the namespace of the type it belongs to (or the module, for native code).
GROUPS = [
    ("ours: forwarding", r"LoadBalancing[._]Proxy[._]Forwarding|LoadBalancing_Proxy_Forwarding"),
    ("ours: upstream connections", r"LoadBalancing[._]Proxy[._]Upstream|LoadBalancing_Proxy_Upstream"),
    ("ours: other", r"LoadBalancing"),
    ("Kestrel", r"Kestrel|Microsoft[._]AspNetCore"),
    ("pipelines", r"System[._]IO[._]Pipelines"),
    ("sockets", r"System[._]Net[._]Sockets"),
    ("threading and tasks", r"System[._]Threading|ThreadPool|AsyncTaskMethodBuilder|AsyncValueTaskMethodBuilder|ExecutionContext"),
    ("metrics", r"System[._]Diagnostics[._]Metrics"),
    ("casts and interface dispatch", r"CastHelpers|VirtualDispatch"),
    ("other .NET libraries", r"^System[._]|^Microsoft[._]|S_P_CoreLib|System_Private"),
]


def declaring_type(sym):
    """JIT-compiled code reads "instance void [Assembly] Namespace.Type::Method(...)": the type is the name before
    "::" (parameter types name other assemblies). NativeAOT symbols read "Assembly_Namespace_Type__Method"."""
    head = sym.split("::", 1)[0]
    return head.rsplit("] ", 1)[-1] if "::" in sym else sym


def group_of(dso, sym):
    if dso.startswith("[kernel") or dso == "[vdso]":
        return "kernel"
    if sym.startswith("stub "):
        return "runtime (stubs)"
    for name, pattern in GROUPS:
        if re.search(pattern, declaring_type(sym)):
            return name
    if "libcoreclr" in dso or "libclrjit" in dso or dso.startswith("libSystem.Native"):
        return "runtime (native)"
    if "libc" in dso or "ld-linux" in dso:
        return "libc"
    return "other (" + dso + ")"


def record():
    """Runs the load and the recording; returns perf's report, wrk's rate and the requests per CPU-second."""
    OURS_ENV.update({"DOTNET_PerfMapEnabled": "1", "DOTNET_EnableWriteXorExecute": "0"})
    upstreams, many_addresses, upstream = start_upstream()
    # LB_PROFILE_ENDPOINTS=1000: the cluster of 1,000 endpoints (each its own loopback address) instead of 3.
    # LB_PROFILE_TRANSPORT=EventLoop: the proxy on the event-loop transport.
    port, proc = start_ours("ours-rr", "RoundRobin", many_addresses if os.environ.get("LB_PROFILE_ENDPOINTS") == "1000" else upstreams,
                            transport=os.environ.get("LB_PROFILE_TRANSPORT"))
    ready({"ours-rr": {"port": port, "proc": proc}})
    # LB_PROFILE_DATA keeps the recording for a closer look (perf report -i FILE; or profile.py --report FILE RATE).
    data = os.environ.get("LB_PROFILE_DATA") or os.path.join(work, "perf.data")
    try:
        pin(upstream, "1")
        pin(proc, "0")
        wrk(port, CONNECTIONS, WARMUP, True, HEADERS)
        load = wrk_start(port, CONNECTIONS, RECORD + 2, True, HEADERS)
        time.sleep(1)
        cpu0 = cpu_seconds(proc)
        subprocess.run(["perf", "record", "-q", "-F", "2000", "-g", "-o", data, "-p", str(proc.pid), "--", "sleep", str(RECORD)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cpu = cpu_seconds(proc) - cpu0
        rps = wrk_result(load)["rps"]
        # wrk runs at a steady rate through the recorded window, so its average rate times the window is its requests.
        per_cpu = rps * RECORD / cpu if cpu > 0 else float("nan")
        # System calls per request, ours and nginx as a proxy over the same upstreams (its one worker pinned alike).
        nginx_port, nginx = start_nginx_proxy(upstreams)
        wait_port(nginx_port)
        calls = {"ours": syscalls(port, proc.pid, data + ".sys")}
        worker = nginx_worker(nginx.pid)
        pin_pid(worker, "0")
        calls["nginx"] = syscalls(nginx_port, worker, data + ".sys")
        return perf_report(data), rps, per_cpu, calls
    finally:
        stop_everything()


SYSCALLS = ["recvfrom", "recvmsg", "read", "sendto", "sendmsg", "writev", "write", "epoll_wait", "epoll_pwait", "futex", "sched_yield", "epoll_ctl"]


def syscalls(port, pid, data):
    """The system calls a process makes per request under the same load: perf counts their tracepoints for 3 s."""
    wrk(port, CONNECTIONS, 2, True)
    load = wrk_start(port, CONNECTIONS, 5, True)
    time.sleep(1)
    events = [arg for name in SYSCALLS for arg in ("-e", f"syscalls:sys_enter_{name}")]
    subprocess.run(["perf", "record", "-q", *events, "-p", str(pid), "-o", data, "--", "sleep", "3"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    requests = wrk_result(load)["rps"] * 3
    script = subprocess.run(["perf", "script", "-i", data, "-F", "event"], capture_output=True, text=True).stdout
    counts = collections.Counter(m.group(1) for m in re.finditer(r"sys_enter_(\w+)", script))
    return {name: count / requests for name, count in counts.items()}


def nginx_worker(master):
    """nginx's one worker process (the master only supervises)."""
    children = subprocess.run(["ps", "-o", "pid=", "--ppid", str(master)], capture_output=True, text=True).stdout.split()
    return int(children[0])


def pin_pid(pid, cpus):
    subprocess.run(["taskset", "-a", "-p", "-c", cpus, str(pid)], stdout=subprocess.DEVNULL, check=True)


def perf_report(data):
    return subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", "dso,sym", "--stdio", "-g", "none", "--percent-limit", "0"],
                          capture_output=True, text=True).stdout


if len(sys.argv) > 2 and sys.argv[1] == "--report":
    report, rps, per_cpu, calls = perf_report(sys.argv[2]), float("nan"), float(sys.argv[3]), {}
else:
    report, rps, per_cpu, calls = record()

rows = []
for line in report.splitlines():
    m = re.match(r"\s+([\d.]+)%\s+(.+?)\s+\[[.kHg]\]\s+(.*)", line)
    if m:
        rows.append((float(m.group(1)), m.group(2), m.group(3).strip()))
us_per_request = 1e6 / per_cpu
groups = collections.Counter()
for share, dso, sym in rows:
    groups[group_of(dso, sym)] += share
print(f"{machine()}\nrecorded {RECORD} s at about {rps:,.0f} requests/s, {per_cpu:,.0f} requests per CPU-second = {us_per_request:.1f} µs of CPU per request\n")
print("| where | share of samples | µs per request |\n| --- | --- | --- |")
for name, share in groups.most_common():
    print(f"| {name} | {share:.1f} % | {share / 100 * us_per_request:.2f} |")
print(f"\nheaviest {TOP} symbols:")
for share, dso, sym in sorted(rows, reverse=True)[:TOP]:
    print(f"{share:6.2f} %  {share / 100 * us_per_request:5.2f} µs  {group_of(dso, sym):28} {sym[:110]}")
if calls:
    names = sorted({name for per in calls.values() for name in per}, key=lambda n: -calls["ours"].get(n, 0))
    print("\nsystem calls per request (perf on the syscall tracepoints, 3 s each under the same load):\n")
    print("| system call | " + " | ".join(calls) + " |\n| --- |" + " --- |" * len(calls))
    for name in names:
        print(f"| {name} | " + " | ".join(f"{per.get(name, 0):.2f}" for per in calls.values()) + " |")
    print("| all | " + " | ".join(f"{sum(per.values()):.2f}" for per in calls.values()) + " |")

