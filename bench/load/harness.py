"""What bench/load's scenarios share: starting processes (and stopping every one of them, whatever happens),
the nginx upstream and the contenders, wrk, and reading a process's CPU time and peak RSS from /proc."""
import atexit, json, os, re, shutil, signal, socket, statistics, subprocess, sys, tempfile, time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
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


def free_port(host="127.0.0.1"):
    # The kernel may offer a port again as soon as it is released, before the process it is meant for has
    # bound it; a proxy given its own listener port as its admin port dies at start-up, and another
    # process answers in its place. Never hand out the same port twice.
    while True:
        s = socket.socket(); s.bind((host, 0)); p = s.getsockname()[1]; s.close()
        if p not in handed_out:
            handed_out.add(p)
            return p


# What ProxyHost sets for itself when the environment does not (samples/ProxyHost/SocketDefaults.cs): socket completions
# inline on the epoll threads. Ours runs without it in its environment, as shipped; programs that stand in for parts
# of it (the floor servers, our upstream client alone) and ProxyHost builds from before that default are given it.
SHIPPED_SOCKETS = {"DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS": "1"}
# LB_OURS_ENV adds settings to try to ours.
OURS_ENV = json.loads(os.environ.get("LB_OURS_ENV", "{}"))


def start(name, args, env=None):
    e = dict(os.environ); e.update(env or {})
    if BASELINE_DLL and BASELINE_DLL in args:
        e.update(SHIPPED_SOCKETS)
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


def wait_port(port, timeout=60, host="127.0.0.1"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection((host, port), 0.2).close(); return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on {host}:{port} after {timeout} s")


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


def memory_mib(proc, field):
    """A /proc/<pid>/status memory field (VmRSS, VmHWM, ...) summed over the process and its children."""
    total = 0
    for pid in pids_of(proc):
        try:
            m = re.search(rf"{field}:\s+(\d+) kB", open(f"/proc/{pid}/status").read())
            total += int(m.group(1)) if m else 0
        except OSError:
            pass
    return total / 1024


def peak_rss_mib(proc):
    return memory_mib(proc, "VmHWM")


def pin(proc, cpus):
    for pid in pids_of(proc):
        subprocess.run(["taskset", "-a", "-p", "-c", cpus, str(pid)], capture_output=True)


# What a browser's request carries (Chrome's navigation fields, a session cookie, a trace context): ten fields, most of
# them names Kestrel knows, two it does not (X-Request-Id, traceparent), the way real traffic mixes them.
BROWSER_HEADERS = [
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8",
    "Accept-Encoding: gzip, deflate, br, zstd",
    "Accept-Language: en-GB,en;q=0.9",
    "Cache-Control: no-cache",
    "Cookie: session=5f0c1d8e2b7a4c39; theme=dark",
    "Referer: http://127.0.0.1/catalogue?page=2",
    "Upgrade-Insecure-Requests: 1",
    "X-Request-Id: 7b1e4c2a-9d3f-4e8b-a6c5-0f2d8e1b3a47",
    "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
]


def header_fields(value):
    """A harness setting naming request fields: "browser" for BROWSER_HEADERS, else fields separated by "|"."""
    if not value:
        return None
    return BROWSER_HEADERS if value == "browser" else value.split("|")


def wrk(port, connections, duration, pinned, header=None, path="/", scheme="http"):
    """Runs wrk to the end and returns its figures."""
    return wrk_result(wrk_start(port, connections, duration, pinned, header, path, scheme))


def wrk_start(port, connections, duration, pinned, header=None, path="/", scheme="http"):
    """Starts wrk (on core 1 when pinned) without waiting; wrk_result collects its figures. header: one field
    ("Name: value") or a list of them. scheme: "https" for a TLS listener."""
    args = ["wrk", "-t", "1", "-c", str(connections), "-d", f"{duration}s", "--latency", f"{scheme}://127.0.0.1:{port}{path}"]
    for field in [header] if isinstance(header, str) else header or []:
        args[1:1] = ["-H", field]
    if pinned:
        args = ["taskset", "-c", "1"] + args
    return subprocess.Popen(args, stdout=subprocess.PIPE, text=True)


def wrk_result(load):
    out = load.communicate()[0]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    transfer = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out)
    mb = float(transfer.group(1)) * {"B": 1e-6, "KB": 1e-3, "MB": 1, "GB": 1e3}.get(transfer.group(2), 1) if transfer else 0
    def lat(q):
        m = re.search(rf"\s{q}%\s+([\d.]+)(us|ms|s)", out)
        return float(m.group(1)) * {"us": 1e-3, "ms": 1, "s": 1e3}[m.group(2)] if m else float("nan")
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    socket_errors = re.search(r"Socket errors:.*", out)
    requests = re.search(r"(\d+) requests in", out)
    return {"rps": rps, "requests": int(requests.group(1)) if requests else 0, "mbps": mb, "p50": lat(50), "p99": lat(99), "non2xx": int(errors.group(1)) if errors else 0, "socket": socket_errors.group(0) if socket_errors else ""}


# --- the upstream: one nginx process, three ports, a fixed 13-byte body (and a 1 MiB file) -------------------
def start_upstream():
    """Returns the three upstream addresses, the 1,000 loopback addresses of the large cluster, and the process."""
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
worker_processes 1; worker_rlimit_nofile 65536; daemon off; pid {work}/upstream.pid; error_log {work}/upstream.log warn;
events {{ worker_connections 16384; }}
http {{ access_log off; keepalive_requests 1000000; keepalive_timeout 75s;
""" + "".join(f"""  server {{ listen 127.0.0.1:{p} reuseport; location = /1m {{ root {work}/www; }} location / {{ default_type text/plain; return 200 "Hello, World!"; }} }}
""" for p in up)
        + "  server { " + " ".join(f"listen {a};" for a in many_addresses) + ' location / { default_type text/plain; return 200 "Hello, World!"; } }\n'
        + "}\n")
    proc = start("upstream", ["nginx", "-c", up_conf])
    for p in up:
        wait_port(p)
    return [f"127.0.0.1:{p}" for p in up], many_addresses, proc


# --- contenders: each returns (port, process) --------------------------------------------------------------
# run.sh --aot publishes ProxyHost with NativeAOT and passes the executable here.
OURS_EXE = os.environ.get("LB_OURS_EXE")
_ours_cmd = [OURS_EXE] if OURS_EXE else ["dotnet", os.path.join(ROOT, "samples/ProxyHost/bin/Release/net10.0/ProxyHost.dll")]


def ours_cmd():
    """The command that starts ProxyHost (the NativeAOT executable under --aot)."""
    return list(_ours_cmd)

# LB_BASELINE_DLL: a ProxyHost.dll built from another commit, run as the contender "base-rr" beside ours, so a change's
# effect is a ratio from one interleaved run (bench/load/baseline.sh builds it).
BASELINE_DLL = os.environ.get("LB_BASELINE_DLL")


def test_certificate():
    """A self-signed PFX for 127.0.0.1 (RSA 2048, no password), made once per run with openssl."""
    path = os.path.join(work, "listener.pfx")
    if not os.path.exists(path):
        key, crt = os.path.join(work, "listener.key"), os.path.join(work, "listener.crt")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", crt], check=True, capture_output=True)
        subprocess.run(["openssl", "pkcs12", "-export", "-inkey", key, "-in", crt, "-out", path, "-passout", "pass:"],
                       check=True, capture_output=True)
    return path


def start_ours(name, algorithm, endpoints, extra="", protocols=None, cmd=None, transport=None, tls=False):
    """protocols: the listener's Protocols (e.g. "Http2" for cleartext gRPC clients); Kestrel's default when None.
    transport: Proxy:Transport ("EventLoop" for the event-loop transport); "Sockets" when None, written into the file,
    since ProxyHost's own default on Linux is EventLoop. tls: an https listener with test_certificate()."""
    port, admin = free_port(), free_port()
    listener = {"Url": f"{'https' if tls else 'http'}://127.0.0.1:{port}"}
    if tls:
        listener["CertificatePath"] = test_certificate()
    if protocols:
        listener["Protocols"] = protocols
    path = os.path.join(work, f"proxyhost-{port}.json")
    eps = ", ".join(json.dumps({"Address": e}) for e in endpoints)
    transport_key = f' "Transport": {json.dumps(transport or "Sockets")},'
    open(path, "w").write(f"""{{ "Logging": {{ "LogLevel": {{ "Default": "Warning" }} }}, "DemoBackends": {{ "Count": 0 }},
  "Proxy": {{ "Listeners": [ {json.dumps(listener)} ], "Admin": {{ "Url": "http://127.0.0.1:{admin}" }},
    "Routes": [ {{ "Path": "/", "Cluster": "bench" }} ],{transport_key}
    "Clusters": {{ "bench": {{ "Algorithm": "{algorithm}", "Endpoints": [ {eps} ] {extra} }} }} }} }}""")
    return port, start(name, (cmd or _ours_cmd) + ["--config", path])


def start_yarp(upstreams, grpc=False):
    """grpc: an HTTP/2-only listener and HTTP/2 (exactly) to the upstreams, as YARP's gRPC docs configure it."""
    port = free_port()
    dll = os.path.join(ROOT, "bench/load/peers/YarpHost/bin/Release/net10.0/YarpHost.dll")
    return port, start("yarp", ["dotnet", dll, "--port", str(port), "--upstreams", ",".join(upstreams)] + (["--grpc"] if grpc else []))


def start_nginx_proxy(upstreams, keepalive=256, conf_name="nginx-proxy"):
    """nginx as a proxy. keepalive is its cache of idle upstream connections, shared by all the servers: over 1,000
    endpoints it must hold one for each, or nginx opens a connection per request where ours reuses one."""
    port = free_port()
    conf = os.path.join(work, f"{conf_name}.conf")
    open(conf, "w").write(f"""worker_processes 1; worker_rlimit_nofile 16384; daemon off; pid {work}/{conf_name}.pid; error_log {work}/{conf_name}.log warn;
events {{ worker_connections 8192; }}
http {{ access_log off; upstream u {{ {" ".join(f"server {u};" for u in upstreams)} keepalive {keepalive}; }}
  server {{ listen 127.0.0.1:{port}; location / {{ proxy_pass http://u; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering on; }} }} }}
""")
    return port, start("nginx", ["nginx", "-c", conf])


def start_haproxy(upstreams, conf_name="haproxy"):
    port = free_port()
    conf = os.path.join(work, f"{conf_name}.cfg")
    open(conf, "w").write(f"""global
  nbthread 1
  maxconn 4000
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  http-reuse always
frontend f
  bind 127.0.0.1:{port}
  default_backend b
backend b
  balance roundrobin
""" + "".join(f"  server s{i} {u}\n" for i, u in enumerate(upstreams)))
    return port, start("haproxy", ["haproxy", "-f", conf])


def ready(contenders):
    """Waits for every contender's port, then checks each is alive (not some other process on its port)."""
    for c in contenders.values():
        if c["proc"]:
            wait_port(c["port"])
    for name, c in contenders.items():
        if c["proc"]:
            require_alive(name, c["proc"])


# --- the floor: servers that answer by themselves, and the proxy's upstream client alone -------------------
FLOOR_DLL = os.path.join(ROOT, "bench/load/floor/FloorServer/bin/Release/net10.0/FloorServer.dll")
BENCH_DLL = os.path.join(ROOT, "bench/LoadBalancing.Benchmarks/bin/Release/net10.0/LoadBalancing.Benchmarks.dll")


def start_floor(name, mode, *extra):
    """A FloorServer mode (kestrel, kestrel-epoll, transport, epoll, epoll-proxy) on a free port."""
    port = free_port()
    # The same runtime settings our proxy runs with (inline completions): the floor it stands on.
    return port, start(name, ["dotnet", FLOOR_DLL, mode, str(port), *extra], env={**SHIPPED_SOCKETS, **OURS_ENV})


def client_windows(text):
    """The windows `LoadBalancing.Benchmarks client-floor` printed, one line each: requests per second and per CPU-second."""
    return [{"rps": int(m.group(1)) / float(m.group(2)), "per_cpu": int(m.group(1)) / float(m.group(3))}
            for m in re.finditer(r"requests (\d+) seconds ([\d.]+) cpu_seconds ([\d.]+)", text)]


# --- reporting -----------------------------------------------------------------------------------------------
def med(values):
    values = [v for v in values if v == v]
    return (statistics.median(values), min(values), max(values)) if values else (float("nan"),) * 3


def fmt(t, digits=0):
    m, lo, hi = t
    return f"{m:,.{digits}f} ({lo:,.{digits}f}–{hi:,.{digits}f})" if len(set([round(lo, digits), round(hi, digits)])) > 1 else f"{m:,.{digits}f}"


def machine():
    def first_line(args, stream="stdout"):
        out = getattr(subprocess.run(args, capture_output=True, text=True), stream).strip()
        return out.splitlines()[0] if out else args[0]
    model = open("/proc/cpuinfo").read().split("model name")[1].split(":")[1].splitlines()[0].strip()
    return (f"Machine: {os.cpu_count()} CPUs, {model}; {first_line(['nginx', '-v'], 'stderr')}; {first_line(['haproxy', '-v'])}; "
            f"{first_line(['wrk', '--version'])}; dotnet {first_line(['dotnet', '--version'])}; "
            f"ours: {'NativeAOT' if OURS_EXE else 'JIT (framework-dependent)'}.")
