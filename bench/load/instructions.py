"""bench/load/run.sh --instructions: our proxy's user-space instructions per forwarded request, counted by callgrind.
The load runs (requests per CPU-second, A/B pairs) move by about ±5 % on this shared VM; an instruction count does
not depend on what else the machine is doing, so a change of 1 % in the code's own work shows. It says nothing of
the kernel (about 60 % of the proxy's CPU), of cache misses or of time: a change it favours is confirmed with --ab.

The NativeAOT host (LB_OURS_EXE, or --aot) runs under valgrind --tool=callgrind, with instrumentation switched on
after start. wrk (8 connections) warms it up for WARMUP seconds, then each of WINDOWS windows zeroes the counters,
runs wrk for WINDOW seconds and dumps them: the window's instructions over wrk's request count. The median window is
the answer; the spread of the windows says how steady it is. LB_INSTR_EXE_B: a second executable, measured the same
way straight after, and the ratio b / a. LB_INSTR_TRANSPORT=EventLoop, LB_INSTR_ENDPOINTS=1000 and
LB_INSTR_HEADERS (as LB_PROFILE_HEADERS) choose the scenario; LB_INSTR_TOP prints that many of our heaviest functions
with their callees' costs included (callgrind_annotate --inclusive)."""
import glob, os, re, shutil, subprocess, sys
from harness import *

WARMUP = int(os.environ.get("LB_INSTR_WARMUP", "8"))
WINDOW = int(os.environ.get("LB_INSTR_WINDOW", "6"))
WINDOWS = int(os.environ.get("LB_INSTR_WINDOWS", "3"))
CONNECTIONS = 8
TOP = int(os.environ.get("LB_INSTR_TOP", "0"))
TRANSPORT = os.environ.get("LB_INSTR_TRANSPORT")
HEADERS = header_fields(os.environ.get("LB_INSTR_HEADERS"))


def with_symbols(exe, name):
    """valgrind cannot read the DWARF in NativeAOT's ProxyHost.dbg and then gives up; without it, managed code has no
    names. So a copy of the executable gets the .dbg's symbol table merged in (eu-unstrip) and the DWARF left out."""
    dbg = exe + ".dbg"
    if not os.path.exists(dbg):
        return exe
    folder = os.path.join(work, name)
    os.makedirs(folder)
    merged = os.path.join(folder, "merged")
    subprocess.run(["eu-unstrip", "-o", merged, exe, dbg], check=True)
    copy = os.path.join(folder, os.path.basename(exe))
    subprocess.run(["objcopy", "--strip-debug", "--remove-section=.gnu_debuglink", merged, copy], check=True)
    os.remove(merged)
    for extra in glob.glob(os.path.join(os.path.dirname(exe), "*.json")):
        shutil.copy(extra, folder)
    return copy


def measure(name, exe, upstreams):
    out = os.path.join(work, f"{name}.callgrind")
    cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}", exe]
    port, proc = start_ours(f"ours-{name}", "RoundRobin", upstreams, cmd=cmd, transport=TRANSPORT)
    wait_port(port, timeout=300)
    require_alive(name, proc)

    def control(*args):
        subprocess.run(["callgrind_control", *args, str(proc.pid)], capture_output=True, check=True)

    control("-i", "on")
    wrk(port, CONNECTIONS, WARMUP, False, HEADERS)
    windows = []
    for _ in range(WINDOWS):
        before = set(glob.glob(out + ".*"))
        control("-z")
        requests = wrk(port, CONNECTIONS, WINDOW, False, HEADERS)["requests"]
        control("-d")
        dump = wait_dump(out, before)
        windows.append((totals(dump) / requests, requests, dump))
    stop(proc)
    windows.sort()
    _, requests, dump = windows[len(windows) // 2]
    return windows, heaviest(dump, requests) if TOP else []


def wait_dump(out, before, timeout=60):
    """callgrind_control -d returns before the file is whole: wait for the new dump's totals line."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for path in set(glob.glob(out + ".*")) - before:
            if totals(path, missing=None) is not None:
                return path
        time.sleep(0.2)
    raise SystemExit(f"no callgrind dump after {timeout} s")


def totals(path, missing=0):
    with open(path) as f:
        m = re.search(r"^(?:summary|totals): (\d+)", f.read(), re.M)
    return int(m.group(1)) if m else missing


def stop(proc):
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def heaviest(dump, requests):
    """Our own functions (and what they call), heaviest first, in instructions per request."""
    text = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", dump], capture_output=True, text=True).stdout
    rows = []
    for line in text.splitlines():
        m = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+\S*?:(LoadBalancing\S+)", line)
        if m:
            rows.append((int(m.group(1).replace(",", "")), m.group(2)))
    return [(ir / requests, fn) for ir, fn in rows[:TOP]]


def median(windows):
    return windows[len(windows) // 2][0]


exe_a = OURS_EXE
if not exe_a:
    raise SystemExit("--instructions counts the NativeAOT host: set LB_OURS_EXE or add --aot")
exe_b = os.environ.get("LB_INSTR_EXE_B")
upstreams, many_addresses, upstream = start_upstream()
if os.environ.get("LB_INSTR_ENDPOINTS") == "1000":
    upstreams = many_addresses
results = {}
try:
    for name, exe in (("a", exe_a), ("b", exe_b)):
        if exe:
            results[name] = measure(name, with_symbols(exe, name), upstreams)
finally:
    stop_everything()

print(f"{machine()}\nuser-space instructions per forwarded request (callgrind; wrk -c{CONNECTIONS}; {WINDOWS} windows of {WINDOW} s after {WARMUP} s; "
      f"transport {TRANSPORT or 'Sockets'}; {len(upstreams)} endpoints{'; headers ' + os.environ['LB_INSTR_HEADERS'] if HEADERS else ''})\n")
for name, (windows, top) in results.items():
    print(f"{name}: median {median(windows):,.0f} (windows {', '.join(f'{w[0]:,.0f}' for w in windows)})")
    for ir, fn in top:
        print(f"  {ir:9,.0f}  {fn[:150]}")
if "b" in results:
    print(f"\nb / a: {median(results['b'][0]) / median(results['a'][0]):.4f}")
