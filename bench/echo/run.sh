#!/usr/bin/env bash
# bench/echo/run.sh: the echo benchmark, run by `bench/run echo [ARGS]`.
#
# For each number of connections and message size, runs the epoll reference
# server (echo-epoll) and the ringpool server (echo-rp) against echo-loadgen,
# alternating the two, --rounds times each, and keeps the best requests/s of
# each.  All traffic is on 127.0.0.1.  The last line is
#   RESULT echo rp_rps_c300_s128=... epoll_rps_c300_s128=... ...
#          vs_epoll=<rp/epoll at 300 connections, 128 B> min_ratio=<lowest>
#
# Options:
#   --pin none|split     none (default): no pinning, the scheduler shares
#                        both CPUs among server and load generator; split:
#                        the server's threads on CPU 0, the load generator
#                        on CPU 1 (taskset).  See README.md.
#   --rounds N           runs of each server per cell (default 3; best kept)
#   --duration S         measured seconds per run (default 1.5)
#   --warmup S           unmeasured seconds before (default 0.5)
#   --conns "LIST"       default "1 50 300"
#   --sizes "LIST"       default "128 1024"
#   --loadgen-threads N  default 2 (never more than the connections)
#   --nice N             niceness of servers and load generator alike
#                        (default -19 as root, so other work on the machine
#                        disturbs less; 0 to leave it)
#   --rp-args "ARGS"     extra options for echo-rp (e.g. "--spin-ns 0")
#
# Runs outside bench/run too, given builddir (and the binaries built).
set -euo pipefail

pin=none
rounds=3
duration=1.5
warmup=0.5
conns_list="1 50 300"
sizes_list="128 1024"
lg_threads=2
rp_args=""
if ((EUID == 0)); then nice_n=-19; else nice_n=0; fi

usage() {
	sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
	exit 2
}

while (($#)); do
	case "$1" in
	--pin) pin=$2; shift 2 ;;
	--rounds) rounds=$2; shift 2 ;;
	--duration) duration=$2; shift 2 ;;
	--warmup) warmup=$2; shift 2 ;;
	--conns) conns_list=$2; shift 2 ;;
	--sizes) sizes_list=$2; shift 2 ;;
	--loadgen-threads) lg_threads=$2; shift 2 ;;
	--rp-args) rp_args=$2; shift 2 ;;
	--nice) nice_n=$2; shift 2 ;;
	-h|--help) usage ;;
	*) echo "echo/run.sh: unknown option '$1'" >&2; usage ;;
	esac
done
case "$pin" in
split|none) ;;
*) echo "echo/run.sh: --pin none|split" >&2; exit 2 ;;
esac

if declare -F ensure_packages >/dev/null; then
	# shellcheck disable=SC2086
	ensure_packages $BUILD_PKGS_STR
	for t in echo-epoll echo-rp echo-loadgen; do
		build_target "bench/echo/$t"
	done
fi
: "${builddir:?run through bench/run, or set builddir}"
bin="$builddir/bench/echo"

ncpu=$(nproc)
if [[ $pin == split ]] && ((ncpu < 2)); then
	echo "echo/run.sh: one CPU only; not pinning" >&2
	pin=none
fi
srv_pin=(nice -n "$nice_n")
lg_pin=(nice -n "$nice_n")
if [[ $pin == split ]]; then
	srv_pin+=(taskset -c 0)
	lg_pin+=(taskset -c 1)
fi

tmp=$(mktemp -d)
server_pid=""

stop_server() {
	local i
	[[ -n $server_pid ]] || return 0
	kill -TERM "$server_pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		kill -0 "$server_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$server_pid" 2>/dev/null || true
	wait "$server_pid" 2>/dev/null || true
	server_pid=""
}

cleanup() {
	stop_server
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'echo "echo/run.sh: interrupted" >&2; exit 130' INT TERM

# start_server CMD...: starts it in the background, sets server_pid and
# port once it listens (within 5 s).
start_server() {
	local i
	: >"$tmp/srv.out"
	"${srv_pin[@]}" "$@" --max-time 120 >"$tmp/srv.out" 2>"$tmp/srv.err" &
	server_pid=$!
	for ((i = 0; i < 100; i++)); do
		port=$(sed -n 's/^listening 127\.0\.0\.1://p' "$tmp/srv.out")
		[[ -n $port ]] && return 0
		if ! kill -0 "$server_pid" 2>/dev/null; then
			break
		fi
		sleep 0.05
	done
	echo "echo/run.sh: server '$*' did not start:" >&2
	cat "$tmp/srv.err" >&2
	server_pid=""
	exit 1
}

declare -A best p50 p99 cost

# run_one NAME CONNS SIZE: one server run; keeps the best rps of NAME.
run_one() {
	local name=$1 c=$2 s=$3 line rps us key=$1,$2,$3 limit rc
	if [[ $name == rp ]]; then
		# shellcheck disable=SC2086
		start_server "$bin/echo-rp" $rp_args
	else
		start_server "$bin/echo-epoll"
	fi
	limit=$(awk -v w="$warmup" -v d="$duration" 'BEGIN { print int(w + d + 30) }')
	rc=0
	line=$(timeout --foreground -k 5 "$limit" "${lg_pin[@]}" \
		"$bin/echo-loadgen" \
		--port "$port" --conns "$c" --size "$s" \
		--duration "$duration" --warmup "$warmup" \
		--threads "$lg_threads") || rc=$?
	if ((rc == 130 || rc == 143)); then
		echo "echo/run.sh: interrupted" >&2
		exit 130
	elif ((rc)); then
		echo "echo/run.sh: echo-loadgen failed ($rc) against $name ($c conns, $s B): $line" >&2
		cat "$tmp/srv.err" >&2
		exit 1
	fi
	stop_server
	# The server's own CPU time per echo, over its whole life.
	us=$(sed -n 's/.* cpu_us_per_echo=\([0-9.]*\).*/\1/p' "$tmp/srv.err")
	rps=$(sed -n 's/.* rps=\([0-9]*\).*/\1/p' <<<"$line")
	printf '  %-5s %s server_us_per_echo=%s\n' "$name" "$line" "${us:-?}"
	if [[ -z ${best[$key]:-} ]] || ((rps > best[$key])); then
		best[$key]=$rps
		p50[$key]=$(sed -n 's/.* p50_us=\([0-9.]*\).*/\1/p' <<<"$line")
		p99[$key]=$(sed -n 's/.* p99_us=\([0-9.]*\).*/\1/p' <<<"$line")
		cost[$key]=${us:-?}
	fi
}

if [[ $pin == split ]]; then
	how="servers on CPU 0, load generator on CPU 1"
else
	how="nothing pinned"
fi
echo "echo benchmark: $(uname -r), $ncpu CPUs, pin=$pin ($how)," \
	"nice $nice_n, load generator threads $lg_threads," \
	"${duration} s measured after ${warmup} s per run, best of $rounds;" \
	"echo-rp ${rp_args:-with the library defaults}"
for ((r = 1; r <= rounds; r++)); do
	echo "round $r"
	for c in $conns_list; do
		for s in $sizes_list; do
			# Alternate which server goes first.
			if (((r + c / 50) % 2)); then
				run_one epoll "$c" "$s"
				run_one rp "$c" "$s"
			else
				run_one rp "$c" "$s"
				run_one epoll "$c" "$s"
			fi
		done
	done
done

echo
printf '%5s %5s %10s %10s %6s %17s %17s %13s\n' conns size epoll_rps \
	rp_rps ratio "epoll p50/p99 us" "rp p50/p99 us" "us/echo e/rp"
result=""
min_ratio=""
vs_epoll=""
for c in $conns_list; do
	for s in $sizes_list; do
		e=${best[epoll,$c,$s]}
		p=${best[rp,$c,$s]}
		ratio=$(awk -v p="$p" -v e="$e" 'BEGIN { printf "%.2f", e ? p / e : 0 }')
		printf '%5s %5s %10s %10s %6s %17s %17s %13s\n' "$c" "$s" \
			"$e" "$p" "$ratio" \
			"${p50[epoll,$c,$s]}/${p99[epoll,$c,$s]}" \
			"${p50[rp,$c,$s]}/${p99[rp,$c,$s]}" \
			"${cost[epoll,$c,$s]}/${cost[rp,$c,$s]}"
		if [[ -z $min_ratio ]] || awk -v a="$ratio" -v b="$min_ratio" 'BEGIN { exit !(a < b) }'; then
			min_ratio=$ratio
		fi
	done
done
# The RESULT line lists the most connections first.
for c in $(tr ' ' '\n' <<<"$conns_list" | sort -rn); do
	for s in $sizes_list; do
		result+=" rp_rps_c${c}_s${s}=${best[rp,$c,$s]}"
		result+=" epoll_rps_c${c}_s${s}=${best[epoll,$c,$s]}"
	done
done
# vs_epoll: the most connections, the smallest size.
max_c=$(tr ' ' '\n' <<<"$conns_list" | sort -n | tail -1)
min_s=$(tr ' ' '\n' <<<"$sizes_list" | sort -n | head -1)
vs_epoll=$(awk -v p="${best[rp,$max_c,$min_s]}" -v e="${best[epoll,$max_c,$min_s]}" \
	'BEGIN { printf "%.2f", e ? p / e : 0 }')
echo "RESULT echo${result} vs_epoll=$vs_epoll min_ratio=$min_ratio"
