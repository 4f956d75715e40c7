"""Drives bench/load/run.sh: starts the upstream and every contender once, runs wrk against each in
interleaved order (A B C A B C ...), reads each proxy's CPU time and peak RSS from /proc, and prints
medians with min-max and the ratios against YARP and nginx."""
import atexit, json, os, re, shutil, signal, socket, statistics, subprocess, sys, tempfile, time

QUICK = "--quick" in sys.argv
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DURATION = 3 if QUICK else 4
WARMUP = 1
REPS = 1 if QUICK else 3
LAYOUTS = ["pinned"] if QUICK else ["unpinned", "pinned"]
CONCURRENCY = [128] if QUICK else [32, 128]
TICK = os.sysconf("SC_CLK_TCK")
work = tempfile.mkdtemp(prefix="lb-load-")
started = []


def stop_everything():
    # Whatever happens (an error, Ctrl-C), nothing this script started outlives it.
    for proc in started:
        try:
            os.killpg(os.getpgid(proc.pid), signal.SIGTERM)
        except OSError:
            pass
    for proc in started:
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(os.getpgid(proc.pid), signal.SIGKILL)
    started.clear()
    shutil.rmtree(work, ignore_errors=True)


atexit.register(stop_everything)
# A plain `kill` (SIGTERM) must clean up too: atexit handlers only run on a normal interpreter exit.
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


handed_out = set()


def free_port():
    # The kernel may offer a port again as soon as it is released, before the process it is meant for has
    # bound it; a proxy given its own listener port as its admin port dies at start-up, and another
    # process answers in its place. Never hand out the same port twice.
    while True:
        s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close()
        if p not in handed_out:
            handed_out.add(p)
            return p


# As docs/kubernetes.md's Deployment runs the proxy: socket completions run inline on the epoll threads (the
# proxy never blocks one). LB_OURS_ENV adds or overrides settings to try.
OURS_ENV = {"DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS": "1"}
OURS_ENV.update(json.loads(os.environ.get("LB_OURS_ENV", "{}")))


def start(name, args, env=None, cpu=None):
    e = dict(os.environ); e.update(env or {})
    if name.startswith("ours"):
        e.update(OURS_ENV)
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, name + ".err"), "w"), env=e, start_new_session=True)
    started.append(p)
    return p


def require_alive(name, proc):
    # Something listening on the port is not enough: the contender itself must be alive, not a port some other
    # process holds.
    if proc.poll() is not None:
        raise SystemExit(f"{name} exited at start-up:\n" + open(os.path.join(work, name + ".err")).read()[-2000:])


def wait_port(port, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close(); return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on {port} after {timeout} s")


def pids_of(proc):
    # nginx and haproxy fork; the measured set is the process and its children.
    out = subprocess.run(["pgrep", "-s", str(os.getpgid(proc.pid))], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out] or [proc.pid]


def cpu_seconds(proc):
    total = 0
    for pid in pids_of(proc):
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total / TICK


def peak_rss_mib(proc):
    peak = 0
    for pid in pids_of(proc):
        try:
            m = re.search(r"VmHWM:\s+(\d+) kB", open(f"/proc/{pid}/status").read())
            peak += int(m.group(1)) if m else 0
        except OSError:
            pass
    return peak / 1024


def pin(proc, cpus):
    for pid in pids_of(proc):
        subprocess.run(["taskset", "-a", "-p", "-c", cpus, str(pid)], capture_output=True)


def wrk(port, connections, duration, pinned, header=None, path="/"):
    args = ["wrk", "-t", "1", "-c", str(connections), "-d", f"{duration}s", "--latency", f"http://127.0.0.1:{port}{path}"]
    if header:
        args[1:1] = ["-H", header]
    if pinned:
        args = ["taskset", "-c", "1"] + args
    out = subprocess.run(args, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    transfer = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out)
    mb = float(transfer.group(1)) * {"B": 1e-6, "KB": 1e-3, "MB": 1, "GB": 1e3}.get(transfer.group(2), 1) if transfer else 0
    def lat(q):
        m = re.search(rf"\s{q}%\s+([\d.]+)(us|ms|s)", out)
        return float(m.group(1)) * {"us": 1e-3, "ms": 1, "s": 1e3}[m.group(2)] if m else float("nan")
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    socket_errors = re.search(r"Socket errors:.*", out)
    return {"rps": rps, "mbps": mb, "p50": lat(50), "p99": lat(99), "non2xx": int(errors.group(1)) if errors else 0, "socket": socket_errors.group(0) if socket_errors else ""}


# --- upstream: one nginx process, three ports, a fixed 13-byte body (and a 1 MiB file) -----------------------
up = [free_port() for _ in range(3)]
many_upstream_port = free_port()
many_addresses = [f"127.0.{1 + i // 250}.{1 + i % 250}:{many_upstream_port}" for i in range(1000)]
os.makedirs(os.path.join(work, "www"))
with open(os.path.join(work, "www", "1m"), "wb") as f:
    f.write(os.urandom(1 << 20))
# nginx's workers drop root: the file must be readable by them (mkdtemp makes the folder 0700).
for path in (work, os.path.join(work, "www")):
    os.chmod(path, 0o755)
os.chmod(os.path.join(work, "www", "1m"), 0o644)
up_conf = os.path.join(work, "upstream.conf")
open(up_conf, "w").write(f"""
worker_processes 1; daemon off; pid {work}/upstream.pid; error_log {work}/upstream.log warn;
events {{ worker_connections 4096; }}
http {{ access_log off; keepalive_requests 1000000; keepalive_timeout 75s;
""" + "".join(f"""  server {{ listen 127.0.0.1:{p} reuseport; location = /1m {{ root {work}/www; }} location / {{ default_type text/plain; return 200 "Hello, World!"; }} }}
""" for p in up)
    + "  server { " + " ".join(f"listen {a};" for a in many_addresses) + ' location / { default_type text/plain; return 200 "Hello, World!"; } }\n'
    + "}\n")
upstream = start("upstream", ["nginx", "-c", up_conf])
for p in up:
    wait_port(p)

# --- contenders ------------------------------------------------------------------------------------------
def proxyhost_config(port, admin, algorithm, endpoints, extra=""):
    path = os.path.join(work, f"proxyhost-{port}.json")
    eps = ", ".join(json.dumps({"Address": e}) for e in endpoints)
    open(path, "w").write(f"""{{ "Logging": {{ "LogLevel": {{ "Default": "Warning" }} }}, "DemoBackends": {{ "Count": 0 }},
  "Proxy": {{ "Listeners": [ {{ "Url": "http://127.0.0.1:{port}" }} ], "Admin": {{ "Url": "http://127.0.0.1:{admin}" }},
    "Routes": [ {{ "Path": "/", "Cluster": "bench" }} ],
    "Clusters": {{ "bench": {{ "Algorithm": "{algorithm}", "Endpoints": [ {eps} ] {extra} }} }} }} }}""")
    return path

host_dll = os.path.join(ROOT, "samples/ProxyHost/bin/Release/net10.0/ProxyHost.dll")
# run.sh --aot publishes ProxyHost with NativeAOT and passes the executable here.
OURS_EXE = os.environ.get("LB_OURS_EXE")
ours_cmd = [OURS_EXE] if OURS_EXE else ["dotnet", host_dll]
yarp_dll = os.path.join(ROOT, "bench/load/peers/YarpHost/bin/Release/net10.0/YarpHost.dll")
upstreams = [f"127.0.0.1:{p}" for p in up]
contenders = {}

def add(name, port, proc, header=None):
    contenders[name] = {"port": port, "proc": proc, "header": header, "runs": {}, "cpu": {}}

p = free_port(); add("ours-rr", p, start("ours-rr", ours_cmd + ["--config", proxyhost_config(p, free_port(), "RoundRobin", upstreams)]))
p = free_port(); add("ours-ewma", p, start("ours-ewma", ours_cmd + ["--config", proxyhost_config(p, free_port(), "PeakEwma", upstreams)]))
p = free_port(); add("ours-maglev", p, start("ours-maglev", ours_cmd + ["--config", proxyhost_config(p, free_port(), "Maglev", upstreams, ', "HashKey": { "Source": "Header", "Name": "X-User" }')]), header="X-User: user-42")
p = free_port(); add("yarp", p, start("yarp", ["dotnet", yarp_dll, "--port", str(p), "--upstreams", ",".join(upstreams)]))
p = free_port()
ng_conf = os.path.join(work, "nginx-proxy.conf")
open(ng_conf, "w").write(f"""worker_processes 1; daemon off; pid {work}/proxy.pid; error_log {work}/proxy.log warn;
events {{ worker_connections 8192; }}
http {{ access_log off; upstream u {{ {" ".join(f"server {u};" for u in upstreams)} keepalive 256; }}
  server {{ listen 127.0.0.1:{p}; location / {{ proxy_pass http://u; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering on; }} }} }}
""")
add("nginx", p, start("nginx", ["nginx", "-c", ng_conf]))
p = free_port()
ha_conf = os.path.join(work, "haproxy.cfg")
open(ha_conf, "w").write(f"""global
  nbthread 1
  maxconn 4000
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  http-reuse always
frontend f
  bind 127.0.0.1:{p}
  default_backend b
backend b
  balance roundrobin
""" + "".join(f"  server s{i} {u}\n" for i, u in enumerate(upstreams)))
add("haproxy", p, start("haproxy", ["haproxy", "-f", ha_conf]))
for c in contenders.values():
    wait_port(c["port"])
for name, c in contenders.items():
    require_alive(name, c["proc"])
contenders["direct"] = {"port": up[0], "proc": None, "header": None, "runs": {}, "cpu": {}}
order = ["direct", "ours-rr", "ours-ewma", "ours-maglev", "yarp", "nginx", "haproxy"]

def jit_compiled(name):
    return name.startswith("ours") or name == "yarp"


def layout(pinned):
    for name in order:
        proc = contenders[name]["proc"]
        if proc:
            pin(proc, "0" if pinned else "0,1")
    pin(upstream, "1" if pinned else "0,1")

try:
    # Warm the .NET proxies up (JIT tiers, pools) before anything is measured; nginx and HAProxy need none, and
    # skipping theirs keeps the full run under ten minutes.
    for name in order:
        if jit_compiled(name):
            wrk(contenders[name]["port"], 32, 2, False, contenders[name]["header"])
    for rep in range(REPS):
        for lay in LAYOUTS:
            layout(lay == "pinned")
            for c in CONCURRENCY:
                for name in order:
                    cont = contenders[name]
                    if jit_compiled(name):
                        wrk(cont["port"], c, WARMUP, lay == "pinned", cont["header"])
                    before = cpu_seconds(cont["proc"]) if cont["proc"] else 0
                    r = wrk(cont["port"], c, DURATION, lay == "pinned", cont["header"])
                    r["cpu"] = (cpu_seconds(cont["proc"]) - before) if cont["proc"] else float("nan")
                    cont["runs"].setdefault((lay, c), []).append(r)
                    print(f"rep {rep + 1} {lay:8} c={c:<3} {name:12} {r['rps']:>9.0f} req/s  p99 {r['p99']:7.2f} ms  cpu {r['cpu']:.2f} s {'NON-2XX ' + str(r['non2xx']) if r['non2xx'] else ''}", flush=True)

    # 1 MiB bodies and 1,000 endpoints: pinned, c=32, one run each (three outside --quick).
    extra_reps = 1 if QUICK else 3
    big = {}
    layout(True)
    for name in ["ours-rr", "yarp", "nginx", "haproxy"]:
        cont = contenders[name]
        rs = []
        for _ in range(extra_reps):
            before = cpu_seconds(cont["proc"])
            r = wrk(cont["port"], 32, DURATION, True, path="/1m")
            r["cpu"] = cpu_seconds(cont["proc"]) - before
            rs.append(r)
        big[name] = rs
    many_port = free_port()
    many = start("ours-1000", ours_cmd + ["--config", proxyhost_config(many_port, free_port(), "RoundRobin", many_addresses)])
    wait_port(many_port)
    require_alive("ours-1000", many)
    pin(many, "0")
    wrk(many_port, 32, 2, True)
    many_runs, few_runs = [], []
    for _ in range(extra_reps):
        for target, proc, runs in ((many_port, many, many_runs), (contenders["ours-rr"]["port"], contenders["ours-rr"]["proc"], few_runs)):
            before = cpu_seconds(proc)
            r = wrk(target, 32, DURATION, True)
            r["cpu"] = cpu_seconds(proc) - before
            runs.append(r)
finally:
    peaks = {name: peak_rss_mib(c["proc"]) for name, c in contenders.items() if c["proc"]}
    stop_everything()

# --- the table ---------------------------------------------------------------------------------------------
def med(values):
    values = [v for v in values if v == v]
    return (statistics.median(values), min(values), max(values)) if values else (float("nan"),) * 3

def fmt(t, digits=0):
    m, lo, hi = t
    return f"{m:,.{digits}f} ({lo:,.{digits}f}–{hi:,.{digits}f})" if len(set([round(lo, digits), round(hi, digits)])) > 1 else f"{m:,.{digits}f}"

lines = [f"Machine: {os.cpu_count()} CPUs, {open('/proc/cpuinfo').read().split('model name')[1].split(':')[1].splitlines()[0].strip()}; "
         f"{subprocess.run(['nginx', '-v'], capture_output=True, text=True).stderr.strip()}; {subprocess.run(['haproxy', '-v'], capture_output=True, text=True).stdout.splitlines()[0]}; "
         f"{subprocess.run(['wrk', '--version'], capture_output=True, text=True).stdout.splitlines()[0] if subprocess.run(['wrk', '--version'], capture_output=True, text=True).stdout else 'wrk'}; "
         f"dotnet {subprocess.run(['dotnet', '--version'], capture_output=True, text=True).stdout.strip()}; ours: {'NativeAOT' if OURS_EXE else 'JIT (framework-dependent)'}. {REPS} run(s) of {DURATION} s each, interleaved; median (min–max).", ""]
for lay in LAYOUTS:
    for c in CONCURRENCY:
        lines.append(f"### {lay}, c = {c}")
        lines.append("")
        lines.append("| contender | requests/s | p50 ms | p99 ms | proxy CPU s | requests per proxy CPU-s | vs YARP | vs nginx | peak RSS MiB | non-2xx |")
        lines.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        per_cpu = {}
        for name in order:
            runs = contenders[name]["runs"][(lay, c)]
            per_cpu[name] = med([r["rps"] * DURATION / r["cpu"] for r in runs if r["cpu"] == r["cpu"] and r["cpu"] > 0])
        for name in order:
            runs = contenders[name]["runs"][(lay, c)]
            eff = per_cpu[name]
            ratio = lambda peer: f"{eff[0] / per_cpu[peer][0]:.2f}×" if name != "direct" and per_cpu[peer][0] == per_cpu[peer][0] else "–"
            lines.append(f"| {name} | {fmt(med([r['rps'] for r in runs]))} | {fmt(med([r['p50'] for r in runs]), 2)} | {fmt(med([r['p99'] for r in runs]), 2)} | "
                         f"{fmt(med([r['cpu'] for r in runs]), 2) if name != 'direct' else '–'} | {fmt(eff) if name != 'direct' else '–'} | {ratio('yarp')} | {ratio('nginx')} | "
                         f"{peaks.get(name, float('nan')):.1f} | {sum(r['non2xx'] for r in runs)} |" if name != "direct" else
                         f"| direct (no proxy) | {fmt(med([r['rps'] for r in runs]))} | {fmt(med([r['p50'] for r in runs]), 2)} | {fmt(med([r['p99'] for r in runs]), 2)} | – | – | – | – | – | {sum(r['non2xx'] for r in runs)} |")
        lines.append("")
lines.append("### 1 MiB responses, pinned, c = 32")
lines.append("")
lines.append("| contender | MB/s | proxy CPU s | MB per proxy CPU-s | p99 ms | non-2xx |")
lines.append("| --- | --- | --- | --- | --- | --- |")
for name, rs in big.items():
    lines.append(f"| {name} | {fmt(med([r['mbps'] for r in rs]))} | {fmt(med([r['cpu'] for r in rs]), 2)} | {fmt(med([r['mbps'] * DURATION / r['cpu'] for r in rs if r['cpu'] > 0]))} | {fmt(med([r['p99'] for r in rs]), 2)} | {sum(r['non2xx'] for r in rs)} |")
lines.append("")
lines.append("### 1,000 endpoints in the cluster (each its own loopback address), pinned, c = 32")
lines.append("")
lines.append(f"ours-rr with 1,000 endpoints: {fmt(med([r['rps'] for r in many_runs]))} requests/s, {fmt(med([r['rps'] * DURATION / r['cpu'] for r in many_runs if r['cpu'] > 0]))} per proxy CPU-second, "
             f"p99 {fmt(med([r['p99'] for r in many_runs]), 2)} ms, non-2xx {sum(r['non2xx'] for r in many_runs)} "
             f"(the same proxy build with 3 endpoints, interleaved: {fmt(med([r['rps'] * DURATION / r['cpu'] for r in few_runs if r['cpu'] > 0]))} per proxy CPU-second)")
text = "\n".join(lines)
print()
print(text)
open(os.path.join(ROOT, "bench/load/results.md"), "w").write(text + "\n")
