#!/usr/bin/env bash
# bench/serve/run.sh: `ringpool serve` against nginx, run by
# `bench/run serve [ARGS]`.
#
# Both serve the same folder on 127.0.0.1 (nginx with its own config: one
# worker per ring, access_log off, sendfile on, keepalive_requests 1000000;
# ringpool serve -q with --rings), and wrk (one thread, keep-alive) asks each
# for one file for --duration seconds at each connection count, the two
# servers alternating, --rounds times.  Files: a 4 KiB one (requests/s) and a
# 1 MiB one (MB/s).  For each run the server's CPU time is read from
# /proc/PID/task/*/schedstat, so the table also gives CPU per request.  Each
# figure is the median of its rounds.  The last line is
#   RESULT serve rp_rps_4k_cN=... nginx_rps_4k_cN=... vs_nginx_4k_cN=...
#          rp_mbps_1m_cN=... nginx_mbps_1m_cN=... vs_nginx_1m_cN=...
#          rp_cpu_us_4k_cN=... nginx_cpu_us_4k_cN=...  (for each N)
# with ratios of ringpool's figure over nginx's.
#
# Options:
#   --rounds N       runs of each server per cell (default 3)
#   --duration S     seconds per run (default 3)
#   --conns "LIST"   default "1 50"
#   --rings N        ringpool rings and nginx workers (default 1)
#   --wrk-threads N  wrk's threads (default 1); with more rings than one,
#                    give wrk about as many threads, or wrk is the limit
#   --server-cpus LIST  run both servers on these CPUs only (taskset -c)
#   --client-cpus LIST  run wrk on these CPUs only
#   --rp-args "ARGS"    more options for ringpool serve (e.g. "--splice on")
#
# wrk and the server share the machine's cores; on a 2-vCPU VM that is one
# core each, roughly, for both servers alike.  On a machine with cores to
# spare, --server-cpus and --client-cpus keep them apart, e.g. for 4 rings:
#   bench/run serve --rings 4 --wrk-threads 4 --server-cpus 0-3 --client-cpus 8-11
set -euo pipefail

rounds=3
duration=3
conns_list="1 50"
rings=1
wrk_threads=1
server_cpus='' client_cpus='' rp_args=''

while (($#)); do
	case "$1" in
	--rounds) rounds=$2; shift 2 ;;
	--duration) duration=$2; shift 2 ;;
	--conns) conns_list=$2; shift 2 ;;
	--rings) rings=$2; shift 2 ;;
	--wrk-threads) wrk_threads=$2; shift 2 ;;
	--server-cpus) server_cpus=$2; shift 2 ;;
	--client-cpus) client_cpus=$2; shift 2 ;;
	--rp-args) rp_args=$2; shift 2 ;;
	-h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "serve/run.sh: unknown option '$1'" >&2; exit 2 ;;
	esac
done

if declare -F ensure_packages >/dev/null; then
	read -r -a pkgs <<<"$BUILD_PKGS_STR"
	ensure_packages "${pkgs[@]}" nginx wrk
	build_target cli/ringpool
fi
ringpool="$builddir/cli/ringpool"
[[ -x $ringpool ]] || { echo "serve/run.sh: $ringpool is not built" >&2; exit 1; }
for cmd in nginx wrk; do
	command -v "$cmd" >/dev/null || { echo "serve/run.sh: $cmd is not installed" >&2; exit 1; }
done
for n in "$rings" "$wrk_threads" "$rounds" "$duration"; do
	[[ $n =~ ^[1-9][0-9]*$ ]] || { echo "serve/run.sh: not a count: '$n'" >&2; exit 2; }
done
# shellcheck source=bench/nginx.sh
source "$(dirname "${BASH_SOURCE[0]}")/../nginx.sh"
check_cpus serve/run.sh "$server_cpus" "$client_cpus"

work="$builddir/serve-bench"
rm -rf "$work"
mkdir -p "$work/www"
head -c 4096 /dev/urandom >"$work/www/f4k.bin"
head -c 1048576 /dev/urandom >"$work/www/f1m.bin"

ngx="$work/nginx"
ngx_port=$(free_port)
nginx_conf "$ngx" "$ngx_port" "$work/www" "$rings"
pin "$server_cpus" nginx -p "$ngx" -c "$ngx/nginx.conf" -g 'daemon on;'

rp_port=$(free_port)
# Started directly (taskset execs it), so that $! is the server's PID.
read -r -a rp_extra <<<"$rp_args"
rp_cmd=("$ringpool" serve -q --port "$rp_port" --rings "$rings" "${rp_extra[@]}"
	"$work/www")
[[ -z $server_cpus ]] || rp_cmd=(taskset -c "$server_cpus" "${rp_cmd[@]}")
"${rp_cmd[@]}" 2>"$work/rp.err" &
rp_pid=$!
cleanup() {
	kill "$(cat "$ngx/nginx.pid" 2>/dev/null)" 2>/dev/null || true
	kill "$rp_pid" 2>/dev/null || true
	wait "$rp_pid" 2>/dev/null || true
}
trap cleanup EXIT

for port in "$ngx_port" "$rp_port"; do
	for _ in $(seq 50); do
		curl -sf -o /dev/null "http://127.0.0.1:$port/f4k.bin" && break
		sleep 0.1
	done
	curl -sf -o /dev/null "http://127.0.0.1:$port/f4k.bin" ||
		{ echo "serve/run.sh: the server on port $port does not answer" >&2; exit 1; }
done
ngx_pids() { pgrep -P "$(cat "$ngx/nginx.pid")" | tr '\n' ' '; }

# cpu_ns PIDS...: CPU time so far of every thread of these processes.
cpu_ns() {
	local p t total=0 a
	for p in "$@"; do
		for t in /proc/"$p"/task/*/schedstat; do
			read -r a _ <"$t" 2>/dev/null && total=$((total + a))
		done
	done
	echo "$total"
}

# run SERVER FILE CONNS: one wrk run; prints "requests/s MB/s cpu_us_per_req".
run() {
	local server=$1 file=$2 conns=$3 port pids c0 c1 out rps bytes
	local threads=$((wrk_threads < conns ? wrk_threads : conns)) # wrk's rule
	if [[ $server == nginx ]]; then
		port=$ngx_port
		pids=$(ngx_pids)
	else
		port=$rp_port
		pids=$rp_pid
	fi
	# shellcheck disable=SC2086
	c0=$(cpu_ns $pids)
	out=$(pin "$client_cpus" wrk -t"$threads" -c"$conns" -d"${duration}s" "http://127.0.0.1:$port/$file")
	# shellcheck disable=SC2086
	c1=$(cpu_ns $pids)
	rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
	bytes=$(awk '/requests in/ { print $1 }' <<<"$out")
	if grep -q 'Non-2xx\|Socket errors' <<<"$out"; then
		echo "serve/run.sh: $server: errors in the run:" >&2
		grep 'Non-2xx\|Socket errors' <<<"$out" >&2
		echo "0 0 0"
		return
	fi
	awk -v rps="$rps" -v n="$bytes" -v cpu=$((c1 - c0)) -v size="$(stat -c %s "$work/www/$file")" \
		'BEGIN { printf "%.0f %.1f %.2f\n", rps, rps * size / 1e6, n ? cpu / 1e3 / n : 0 }'
}

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "serve: ringpool serve ($(grep -o 'io_uring[^)]*\|blocking[^)]*' "$work/rp.err")) against nginx ($rings worker(s))${rp_args:+ (ringpool serve $rp_args)}, wrk -t$wrk_threads, ${duration}s x $rounds rounds each"
printf '%-6s %-5s %-9s %12s %10s %14s\n' file conns server "requests/s" "MB/s" "CPU us/req"
result="RESULT serve"
for file in f4k.bin f1m.bin; do
	tag=${file#f}
	tag=${tag%.bin}
	for conns in $conns_list; do
		declare -A R=() M=() C=()
		for ((i = 0; i < rounds; i++)); do
			order="nginx ringpool"
			((i % 2)) && order="ringpool nginx"
			for server in $order; do
				read -r rps mbps cpu < <(run "$server" "$file" "$conns")
				R[$server]+="$rps "
				M[$server]+="$mbps "
				C[$server]+="$cpu "
			done
		done
		for server in nginx ringpool; do
			# shellcheck disable=SC2086
			printf '%-6s %-5s %-9s %12.0f %10.1f %14.2f\n' "$tag" "$conns" "$server" \
				"$(median ${R[$server]})" "$(median ${M[$server]})" "$(median ${C[$server]})"
		done
		# shellcheck disable=SC2086
		rp_r=$(median ${R[ringpool]}) ng_r=$(median ${R[nginx]})
		# shellcheck disable=SC2086
		rp_m=$(median ${M[ringpool]}) ng_m=$(median ${M[nginx]})
		# shellcheck disable=SC2086
		rp_c=$(median ${C[ringpool]}) ng_c=$(median ${C[nginx]})
		ratio=$(awk -v a="$rp_r" -v b="$ng_r" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
		if [[ $tag == 4k ]]; then
			result+=" rp_rps_4k_c$conns=$rp_r nginx_rps_4k_c$conns=$ng_r vs_nginx_4k_c$conns=$ratio"
			result+=" rp_cpu_us_4k_c$conns=$rp_c nginx_cpu_us_4k_c$conns=$ng_c"
		else
			result+=" rp_mbps_1m_c$conns=$rp_m nginx_mbps_1m_c$conns=$ng_m vs_nginx_1m_c$conns=$ratio"
		fi
		unset R M C
	done
done
echo "$result"
