"""bench/load/run.sh: our ProxyHost against YARP, nginx and HAProxy. Starts the upstream and every contender once,
runs wrk against each in interleaved order (A B C A B C ...), reads each proxy's CPU time and peak RSS from /proc,
and prints medians with min-max and the ratios against YARP and nginx."""
import os, sys
from harness import *

QUICK = "--quick" in sys.argv
# Ours twice: on the event-loop transport (Proxy:Transport = EventLoop, ProxyHost's default on Linux) as "ours-ev"
# (round-robin), "ours-ev-ewma" and "ours-ev-maglev", and on Kestrel's socket transport (Proxy:Transport = Sockets, the
# library's default and ProxyHost's elsewhere) as "ours-rr", "ours-ewma" and "ours-maglev". --sockets-only leaves the
# event-loop contenders out (the run before ProxyHost's default changed; about a third shorter).
EVENTLOOP = "--sockets-only" not in sys.argv
DURATION = 3 if QUICK else 4
WARMUP = 1
REPS = 1 if QUICK else 3
LAYOUTS = ["pinned"] if QUICK else ["unpinned", "pinned"]
CONCURRENCY = [128] if QUICK else [32, 128]

# Each event-loop contender's pinned rows come from a twin started pinned (see below).
PINNED_TWIN = {}

upstreams, many_addresses, upstream = start_upstream()
contenders = {}


def add(name, started_at, header=None):
    port, proc = started_at
    contenders[name] = {"port": port, "proc": proc, "header": header, "runs": {}, "cpu": {}}


add("ours-rr", start_ours("ours-rr", "RoundRobin", upstreams))
EV_CONTENDERS = [("ours-ev", "RoundRobin", "", None), ("ours-ev-ewma", "PeakEwma", "", None),
                 ("ours-ev-maglev", "Maglev", ', "HashKey": { "Source": "Header", "Name": "X-User" }', "X-User: user-42")]
if EVENTLOOP:
    # A thread-per-core transport sizes itself from the cores it starts with (one loop each). Pinned after start, a
    # two-loop instance would run both loops on one core, which no deployment does: a container's cpuset is there from
    # its first instruction. So each event-loop contender's pinned rows come from a twin started on core 0 (one loop).
    for ev_name, ev_algorithm, ev_extra, ev_header in EV_CONTENDERS:
        twin = f"{ev_name} (started on core 0)"
        PINNED_TWIN[ev_name] = twin
        add(ev_name, start_ours(ev_name, ev_algorithm, upstreams, ev_extra, transport="EventLoop"), header=ev_header)
        add(twin, start_ours(twin, ev_algorithm, upstreams, ev_extra, transport="EventLoop", cmd=["taskset", "-c", "0"] + ours_cmd()), header=ev_header)
add("ours-ewma", start_ours("ours-ewma", "PeakEwma", upstreams))
add("ours-maglev", start_ours("ours-maglev", "Maglev", upstreams, ', "HashKey": { "Source": "Header", "Name": "X-User" }'), header="X-User: user-42")
if BASELINE_DLL:
    add("base-rr", start_ours("base-rr", "RoundRobin", upstreams, cmd=["dotnet", BASELINE_DLL]))
add("yarp", start_yarp(upstreams))
add("nginx", start_nginx_proxy(upstreams))
add("haproxy", start_haproxy(upstreams))
ready(contenders)
contenders["direct"] = {"port": int(upstreams[0].rsplit(":", 1)[1]), "proc": None, "header": None, "runs": {}, "cpu": {}}
order = ["direct", "ours-rr"] + ([c[0] for c in EV_CONTENDERS] if EVENTLOOP else []) + ["ours-ewma", "ours-maglev"] + (["base-rr"] if BASELINE_DLL else []) + ["yarp", "nginx", "haproxy"]

def measured(name, pinned):
    """The process a row's figures come from: ours-ev's pinned rows come from the instance started pinned."""
    return contenders[PINNED_TWIN[name]] if pinned and name in PINNED_TWIN else contenders[name]


def jit_compiled(name):
    return name.startswith("ours") or name in ("base-rr", "yarp")


def layout(pinned):
    for name in order:
        proc = contenders[name]["proc"]
        if proc:
            pin(proc, "0" if pinned else "0,1")
    pin(upstream, "1" if pinned else "0,1")

try:
    # Warm the .NET proxies up (JIT tiers, pools) before anything is measured; nginx and HAProxy need none, and
    # skipping theirs keeps the full run under ten minutes.
    for name in order + list(PINNED_TWIN.values()):
        if jit_compiled(name):
            wrk(contenders[name]["port"], 32, 2, False, contenders[name]["header"])
    for rep in range(REPS):
        for lay in LAYOUTS:
            layout(lay == "pinned")
            for c in CONCURRENCY:
                for name in order:
                    cont = measured(name, lay == "pinned")
                    if jit_compiled(name):
                        wrk(cont["port"], c, WARMUP, lay == "pinned", cont["header"])
                    before = cpu_seconds(cont["proc"]) if cont["proc"] else 0
                    r = wrk(cont["port"], c, DURATION, lay == "pinned", cont["header"])
                    r["cpu"] = (cpu_seconds(cont["proc"]) - before) if cont["proc"] else float("nan")
                    contenders[name]["runs"].setdefault((lay, c), []).append(r)
                    print(f"rep {rep + 1} {lay:8} c={c:<3} {name:12} {r['rps']:>9.0f} req/s  p99 {r['p99']:7.2f} ms  cpu {r['cpu']:.2f} s {'NON-2XX ' + str(r['non2xx']) if r['non2xx'] else ''}", flush=True)

    # 1 MiB bodies and 1,000 endpoints: pinned, c=32, one run each (three outside --quick).
    extra_reps = 1 if QUICK else 3
    big = {}
    layout(True)
    for name in ["ours-rr"] + (["ours-ev"] if EVENTLOOP else []) + ["yarp", "nginx", "haproxy"]:
        cont = measured(name, True)
        rs = []
        for _ in range(extra_reps):
            before = cpu_seconds(cont["proc"])
            r = wrk(cont["port"], 32, DURATION, True, path="/1m")
            r["cpu"] = cpu_seconds(cont["proc"]) - before
            rs.append(r)
        big[name] = rs
    many_port, many = start_ours("ours-1000", "RoundRobin", many_addresses)
    # The peers over the same 1,000 endpoints, against themselves over 3: what the cluster's size costs proxies written
    # in C. nginx keeps one cache of idle upstream connections for all servers (searched per request); HAProxy keeps
    # them per server.
    large = {"ours-rr": (many_port, many)}
    if EVENTLOOP:
        # Started on core 0, as the 3-endpoint twin it is compared with: one loop, its upstream pools that loop's.
        large["ours-ev"] = start_ours("ours-ev-1000", "RoundRobin", many_addresses, transport="EventLoop", cmd=["taskset", "-c", "0"] + ours_cmd())
    large["nginx"] = start_nginx_proxy(many_addresses, keepalive=2048, conf_name="nginx-1000")
    large["haproxy"] = start_haproxy(many_addresses, conf_name="haproxy-1000")
    for name, (port, proc) in large.items():
        wait_port(port)
        require_alive(f"{name} (1,000 endpoints)", proc)
        pin(proc, "0")
        wrk(port, 32, 2, True)
    many_runs = {name: ([], []) for name in large}
    for _ in range(extra_reps):
        for name, (port, proc) in large.items():
            few = measured(name, True)
            for target, target_proc, runs in ((port, proc, many_runs[name][0]), (few["port"], few["proc"], many_runs[name][1])):
                before = cpu_seconds(target_proc)
                r = wrk(target, 32, DURATION, True)
                r["cpu"] = cpu_seconds(target_proc) - before
                runs.append(r)
finally:
    peaks = {name: peak_rss_mib(c["proc"]) for name, c in contenders.items() if c["proc"]}
    stop_everything()

# --- the table ---------------------------------------------------------------------------------------------
lines = [f"{machine()} {REPS} run(s) of {DURATION} s each, interleaved; median (min–max).", ""]
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
                         f"{peaks.get(PINNED_TWIN.get(name, name) if lay == 'pinned' else name, float('nan')):.1f} | {sum(r['non2xx'] for r in runs)} |" if name != "direct" else
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
for name, (runs, few) in many_runs.items():
    per_cpu_many = med([r['rps'] * DURATION / r['cpu'] for r in runs if r['cpu'] > 0])
    per_cpu_few = med([r['rps'] * DURATION / r['cpu'] for r in few if r['cpu'] > 0])
    lines.append(f"- {name} with 1,000 endpoints: {fmt(med([r['rps'] for r in runs]))} requests/s, {fmt(per_cpu_many)} per proxy CPU-second, "
                 f"p99 {fmt(med([r['p99'] for r in runs]), 2)} ms, non-2xx {sum(r['non2xx'] for r in runs)} "
                 f"(the same proxy with 3 endpoints, interleaved: {fmt(per_cpu_few)} per proxy CPU-second; "
                 f"{(1 - per_cpu_many[0] / per_cpu_few[0]) * 100:.1f} % below)")
text = "\n".join(lines)
print()
print(text)
open(os.path.join(ROOT, "bench/load/results.md"), "w").write(text + "\n")
