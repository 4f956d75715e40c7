#!/usr/bin/env bash
# Proxy load benchmark: our ProxyHost against YARP, nginx and HAProxy on this machine, in one run.
#   bench/load/run.sh            # full run, about 15 minutes: ours on both transports ("ours-ev", "ours-ev-ewma", "ours-ev-maglev"
#                                # on the event loop, ProxyHost's default on Linux, each pinned row from a twin started on core 0;
#                                # "ours-rr", "ours-ewma", "ours-maglev" on Kestrel's socket transport)
#   bench/load/run.sh --quick    # one repetition, pinned, c=128, under 3 minutes
#   bench/load/run.sh --sockets-only  # leaves the event-loop contenders out (about 10 minutes); combines with --quick
#   bench/load/run.sh --aot      # ours as a NativeAOT executable (installs clang; publishing adds ~3 minutes)
#   bench/load/run.sh --floor    # the socket layer's floor: servers that answer without proxying, against the proxies, then the proxy's upstream client alone against wrk (~5 minutes)
#   bench/load/run.sh --floor-paired  # the proxying above that floor from rounds of proxy, server and client measured back to back (~4 minutes)
#   bench/load/run.sh --soak     # resident memory through 60 s of load: ours, YARP, nginx (~3.5 minutes)
#   bench/load/run.sh --profile  # perf profile of ours under load, grouped by where the CPU goes (~40 s; --aot for the NativeAOT host)
#   bench/load/run.sh --instructions  # user-space instructions per request under callgrind (NativeAOT: LB_OURS_EXE or --aot; LB_INSTR_EXE_B for a ratio; ~2 minutes each)
#   bench/load/run.sh --quota    # ours on both transports inside a CPU quota (1 and 1.5 CPUs; needs root and the cgroup filesystem; ~5 minutes)
#   bench/load/run.sh --ab       # a change as a ratio: two ProxyHosts with different environments (LB_AB_ENV_A/B) or b from baseline.sh, 8 interleaved pairs (~2 minutes)
#   bench/load/run.sh --soak-minutes 30 [--aot]   # ours alone for 30 minutes of load; the RSS slope after warm-up
#                                # (--soak-peers: YARP and nginx for as long too)
#   bench/load/run.sh --grpc     # gRPC unary calls: ours against YARP, a .NET load client (~4 minutes; saved as bench/load/results-grpc.md)
#   bench/load/run.sh --coldstart  # process start to 90 % of steady req/s: ours NativeAOT and JIT, YARP (~6 minutes with the publish)
#   bench/load/baseline.sh <commit>   # the same run with ProxyHost built at <commit> beside ours as "base-rr" (also with --grpc)
# Installs wrk, nginx and haproxy from the distribution if missing, builds what it runs in Release, starts
# everything on loopback (127.0.0.1; the gRPC backends on 127.0.0.2-4), stops everything it started, and prints the
# table (also saved as bench/load/results.md).
set -euo pipefail
cd "$(dirname "$0")/../.."

aot=0
grpc=0
instructions=0
for arg in "$@"; do
  [ "$arg" = "--instructions" ] && instructions=1
  [ "$arg" = "--aot" ] && aot=1
  [ "$arg" = "--coldstart" ] && aot=1
  [ "$arg" = "--grpc" ] && grpc=1
done
need=()
# The gRPC scenario runs only .NET processes (its own load client): no wrk, nginx or HAProxy.
if [ $grpc -eq 0 ]; then
  command -v wrk >/dev/null || need+=(wrk)
  command -v nginx >/dev/null || need+=(nginx-light)
  command -v haproxy >/dev/null || need+=(haproxy)
fi
command -v python3 >/dev/null || need+=(python3)
command -v taskset >/dev/null || need+=(util-linux)
if [ $instructions -eq 1 ]; then
  command -v valgrind >/dev/null || need+=(valgrind)
  command -v eu-unstrip >/dev/null || need+=(elfutils)
fi
if [ $aot -eq 1 ]; then
  command -v clang >/dev/null || need+=(clang)
  dpkg -s zlib1g-dev >/dev/null 2>&1 || need+=(zlib1g-dev)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "Installing ${need[*]} ..."
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 PYTHONDONTWRITEBYTECODE=1
dotnet build -c Release samples/ProxyHost -v q -nologo >/dev/null
dotnet build -c Release bench/load/peers/YarpHost -v q -nologo >/dev/null

script=bench/load/run.py
for arg in "$@"; do
  case "$arg" in
    --floor) script=bench/load/floor.py; dotnet build -c Release bench/load/floor/FloorServer -v q -nologo >/dev/null
      dotnet build -c Release bench/LoadBalancing.Benchmarks -v q -nologo >/dev/null ;;
    --floor-paired) script=bench/load/floor_paired.py; dotnet build -c Release bench/load/floor/FloorServer -v q -nologo >/dev/null
      dotnet build -c Release bench/LoadBalancing.Benchmarks -v q -nologo >/dev/null ;;
    --soak|--soak-minutes|--soak-minutes=*) script=bench/load/soak.py ;;
    --profile) script=bench/load/profile.py ;;
    --ab) script=bench/load/ab.py ;;
    --instructions) script=bench/load/instructions.py ;;
    --quota) script=bench/load/quota.py ;;
    --coldstart) script=bench/load/coldstart.py ;;
    --grpc) script=bench/load/grpc.py
      dotnet build -c Release bench/load/grpc/GrpcBackend -v q -nologo >/dev/null
      dotnet build -c Release bench/load/grpc/GrpcLoad -v q -nologo >/dev/null ;;
  esac
done

if [ $aot -eq 1 ]; then
  aot_dir=$(mktemp -d)
  trap 'rm -rf "$aot_dir"' EXIT
  echo "Publishing ProxyHost with NativeAOT ..."
  # The shipped host: ProxyHost publishes as NativeAOT by default.
  dotnet publish samples/ProxyHost -c Release -o "$aot_dir" -v q -nologo >/dev/null
  if [ "$script" = bench/load/coldstart.py ]; then
    export LB_AOT_EXE="$aot_dir/ProxyHost"
  else
    export LB_OURS_EXE="$aot_dir/ProxyHost"
  fi
  python3 "$script" "$@"
  exit $?
fi

if [ "$script" = bench/load/floor.py ]; then
  # The server side, then the client side (the proxy's upstream connections alone).
  python3 "$script" "$@"
  exec python3 bench/load/client_floor.py
fi
exec python3 "$script" "$@"
