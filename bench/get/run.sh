#!/usr/bin/env bash
# bench/get/run.sh: bulk downloads, run by `bench/run get_small|get_big [ARGS]`.
#
#   get_small  2,000 files of 16 KiB
#   get_big    4 files of 128 MiB
#
# A local nginx (its own config, 127.0.0.1, a free port) serves the files;
# curl -Z --parallel-max 64, aria2c -j 64, wget2 --max-threads=64 and
# ringpool get -j 64 download them in turn, each writing to disk (a folder
# under build-bench/), --rounds times in rotated order.  Every run is checked:
# each file must exist with the right SHA-256, or the tool's figures are
# reported as failed.  Each run's wall time, CPU time (user+sys) and peak RSS
# are taken as wait4() reports them (runstat.c beside this script: GNU time
# gives the same in 10 ms steps, which is 5% of a get_small run), and each
# tool's figures are the medians of its rounds.
#
# Each run writes to a file system of its own: as root, a new ext4 made in an
# image file on the disk and loop-mounted for that run (--fs loop, the
# default when root); otherwise a new folder, deleted when the benchmark
# ends (--fs dir).  ext4 skips recently deleted inodes when it allocates new
# ones, with a scan that grows with the number deleted, so on a file system
# where earlier runs deleted thousands of files, file creation rather than
# the tool is what gets measured.
#
# The server shares the machine: each run also reports the CPU time nginx's
# workers spent on it (from /proc/PID/task/*/schedstat, in nanoseconds) and
# how much of the machine stayed idle (/proc/stat).  Together they bound what
# a client can gain by spreading its work over the cores: no run can take
# less wall time than (client CPU + server CPU) / cores.  floor_vs_curl is
# that bound for ringpool's medians, over curl's median wall time.
#
# curl_split is the same work divided by hand: the list cut into one slice per
# core, one `curl -Z` per slice with its share of the 64 transfers, all at
# once (its CPU time is theirs together, its peak RSS the largest one's).  It
# shows what the machine gives a client that spreads its work over every core
# with no coordination at all; split_vs_curl is its wall time over curl's.
#
# get_small also measures ringpool's peak RSS for a 100,000-URL input (each
# of the 2,000 files fetched 50 times under distinct names), the input-size
# memory target.  The last line is
#   RESULT get_small|get_big <tool>_wall_s=... <tool>_cpu_s=...
#          <tool>_rss_mib=... ... wall_vs_curl=... cpu_vs_curl=...
#          best_wall_vs_curl=... <tool>_srv_cpu_s=... floor_vs_curl=...
#          split_vs_curl=...
#          [rss_100k_mib=...]
# where the ratios are ringpool's over curl's.
#
# Options:
#   --rounds N     runs of each tool (default 5)
#   --tools "LIST" default "curl curl_split aria2c wget2 ringpool"
#   --no-rss100k   get_small: skip the 100,000-URL memory run
#   --fs loop|dir  where each run writes (see above)
#   --client-cpus LIST  run every tool on these CPUs only (taskset -c LIST)
#   --server-cpus LIST  run nginx on these CPUs only, one worker per CPU
#   --rp-args "ARGS"    more options for ringpool get (e.g. "--loops 2")
#
# On a machine with cores to spare, --client-cpus and --server-cpus keep
# the server off the client's cores (e.g. --client-cpus 0-1 --server-cpus
# 8-11): then curl_split uses one curl per client CPU, and floor_vs_curl
# is the larger of client CPU / client CPUs and nginx CPU / server CPUs.
#
# Runs outside bench/run too, given builddir (and ringpool built there).
set -euo pipefail

name=${1:-}
shift || true
rounds=5
tools="curl curl_split aria2c wget2 ringpool"
rss100k=1
client_cpus='' server_cpus='' rp_args=''
if ((EUID == 0)) && command -v mkfs.ext4 >/dev/null && [[ -e /dev/loop-control ]]; then
	fs=loop
else
	fs=dir
fi
usage() {
	sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
	exit 2
}
while (($#)); do
	case "$1" in
	--rounds) rounds=$2; shift 2 ;;
	--tools) tools=$2; shift 2 ;;
	--no-rss100k) rss100k=0; shift ;;
	--fs) fs=$2; shift 2 ;;
	--client-cpus) client_cpus=$2; shift 2 ;;
	--server-cpus) server_cpus=$2; shift 2 ;;
	--rp-args) rp_args=$2; shift 2 ;;
	-h|--help) usage ;;
	*) echo "get/run.sh: unknown option '$1'" >&2; usage ;;
	esac
done
case "$fs" in
loop|dir) ;;
*) echo "get/run.sh: --fs must be loop or dir" >&2; usage ;;
esac
# shellcheck source=bench/nginx.sh
source "$(dirname "${BASH_SOURCE[0]}")/../nginx.sh"
check_cpus get/run.sh "$client_cpus" "$server_cpus"
# CPUs each side may use.
client_n=$(pin "$client_cpus" nproc)
server_n=$(pin "$server_cpus" nproc)
read -r -a rp_extra <<<"$rp_args"
case "$name" in
get_small) nfiles=2000; fsize=$((16 * 1024)) ;;
get_big) nfiles=4; fsize=$((128 * 1024 * 1024)); rss100k=0 ;;
*) echo "get/run.sh: NAME must be get_small or get_big" >&2; usage ;;
esac

if declare -F ensure_packages >/dev/null; then
	# shellcheck disable=SC2086
	ensure_packages $BUILD_PKGS_STR nginx curl aria2 wget2
	build_target cli/ringpool
	build_target bench/get/runstat
fi
ringpool="$builddir/cli/ringpool"
runstat="$builddir/bench/get/runstat"
for exe in "$ringpool" "$runstat"; do
	[[ -x $exe ]] || { echo "get/run.sh: $exe is not built" >&2; exit 1; }
done
command -v log >/dev/null || log() { printf 'get/run.sh: %s\n' "$*" >&2; }

work="$builddir/get-bench"
data="$work/data/$name"
out="$work/out"
mkdir -p "$work" "$data"

# The files, made once per size and kept between runs.
if [[ ! -f "$data/.complete" ]] ||
    [[ $(cat "$data/.complete") != "$nfiles $fsize" ]]; then
	log "making $nfiles files of $fsize bytes in $data"
	rm -rf "$data" && mkdir -p "$data"
	for ((i = 0; i < nfiles; i++)); do
		printf -v f '%s/f%05d.bin' "$data" "$i"
		head -c "$fsize" /dev/urandom >"$f"
	done
	(cd "$data" && sha256sum f*.bin >SHA256SUMS)
	echo "$nfiles $fsize" >"$data/.complete"
fi

# nginx on a free port, with a config of its own.
port=$(free_port)
ngx="$work/nginx"
workers=auto
[[ -z $server_cpus ]] || workers=$server_n
nginx_conf "$ngx" "$port" "$work/data" "$workers"
pin "$server_cpus" nginx -p "$ngx" -c "$ngx/nginx.conf" -g 'daemon on;'
cleanup() {
	kill "$(cat "$ngx/nginx.pid" 2>/dev/null)" 2>/dev/null || true
	mountpoint -q "$out/mnt" 2>/dev/null && umount "$out/mnt"
	rm -rf "$out"
}
trap cleanup EXIT
rm -rf "$out"
mkdir -p "$out"

# run_dir TAG BYTES: echo a fresh folder for one run that writes BYTES.
run_dir() {
	if [[ $fs == dir ]]; then
		mkdir -p "$out/$1"
		echo "$out/$1"
		return
	fi
	mountpoint -q "$out/mnt" 2>/dev/null && umount "$out/mnt"
	rm -f "$out/fs.img"
	mkdir -p "$out/mnt"
	truncate -s $(($2 + $2 / 4 + (256 << 20))) "$out/fs.img"
	mkfs.ext4 -q -F -N $((nfiles * 60 + 4096)) "$out/fs.img"
	mount -o loop "$out/fs.img" "$out/mnt"
	mkdir "$out/mnt/$1"
	echo "$out/mnt/$1"
}
for _ in $(seq 50); do
	curl -sf -o /dev/null "http://127.0.0.1:$port/$name/f00000.bin" && break
	sleep 0.1
done

base="http://127.0.0.1:$port/$name"
list="$work/urls-$name.txt"
for ((i = 0; i < nfiles; i++)); do printf '%s/f%05d.bin\n' "$base" "$i"; done >"$list"
sed 's/^/url = /' "$list" >"$list.curl"
ncpu=$client_n
split_lists=()
for ((k = 0; k < ncpu && k < nfiles; k++)); do
	awk -v n="$ncpu" -v k="$k" '(NR - 1) % n == k' "$list.curl" >"$list.curl.$k"
	split_lists+=("$list.curl.$k")
done

# run_tool TOOL DIR: one download of the whole list into DIR, timed.
run_tool() {
	local tool=$1 dir=$2
	case "$tool" in
	curl) pin "$client_cpus" "$runstat" -o "$work/time" \
		curl -Z --parallel-max 64 -s -f --remote-name-all \
		--output-dir "$dir" -K "$list.curl" ;;
	curl_split) pin "$client_cpus" "$runstat" -o "$work/time" \
		bash -c 'pids=() ok=0
			for k in "${@:2}"; do
				curl -Z --parallel-max "$1" -s -f --remote-name-all \
				    --output-dir "$0" -K "$k" & pids+=($!)
			done
			for p in "${pids[@]}"; do wait "$p" || ok=$?; done
			exit $ok' \
		"$dir" $((64 / ncpu > 0 ? 64 / ncpu : 1)) "${split_lists[@]}" ;;
	aria2c) pin "$client_cpus" "$runstat" -o "$work/time" \
		aria2c -j 64 -q -d "$dir" -i "$list" --allow-overwrite=true \
		--auto-file-renaming=false ;;
	wget2) pin "$client_cpus" "$runstat" -o "$work/time" \
		wget2 --max-threads=64 -q -P "$dir" -i "$list" ;;
	ringpool) pin "$client_cpus" "$runstat" -o "$work/time" \
		"$ringpool" get -j 64 --per-host 64 "${rp_extra[@]}" -q -d "$dir" \
		-i "$list" ;;
	esac
}

# ngx_cpu_ns: CPU time so far of nginx's worker processes, in nanoseconds.
ngx_workers=$(pgrep -P "$(cat "$ngx/nginx.pid")" | tr '\n' ' ')
ngx_cpu_ns() {
	local p t=0 run _
	for p in $ngx_workers; do
		read -r run _ <"/proc/$p/schedstat" && t=$((t + run))
	done
	echo "$t"
}
# idle_ticks: idle and iowait time of all CPUs so far, in USER_HZ ticks.
idle_ticks() { awk '$1 == "cpu" { printf "%d\n", $5 + $6 }' /proc/stat; }
hz=$(getconf CLK_TCK)

declare -A walls cpus rsss srvs
set -- $tools
ntools=$#
for ((r = 0; r < rounds; r++)); do
	# Rotate the order so no tool always runs first (cold) or last.
	for ((k = 0; k < ntools; k++)); do
		idx=$(((k + r) % ntools + 1))
		tool=${!idx}
		dir=$(run_dir "$tool.$r" $((nfiles * fsize)))
		sync
		status=ok
		ngx0=$(ngx_cpu_ns) idle0=$(idle_ticks)
		run_tool "$tool" "$dir" >/dev/null 2>"$work/err" || status="exit $?"
		idle1=$(idle_ticks) ngx1=$(ngx_cpu_ns)
		if [[ $status == ok ]] &&
		    ! (cd "$dir" && sha256sum --quiet -c "$data/SHA256SUMS" >/dev/null 2>&1); then
			status="wrong or missing files"
		fi
		if [[ $status != ok ]]; then
			log "$tool round $((r + 1)): FAILED ($status): $(head -c 300 "$work/err")"
			continue
		fi
		read -r wall user sys rss <"$work/time"
		cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.3f", u + s }')
		wall=$(awk -v w="$wall" 'BEGIN { printf "%.3f", w }')
		rss_mib=$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')
		srv=$(awk -v n=$((ngx1 - ngx0)) 'BEGIN { printf "%.3f", n / 1e9 }')
		idle=$(awk -v t=$((idle1 - idle0)) -v hz="$hz" -v w="$wall" -v c="$(nproc)" \
			'BEGIN { p = 100 * t / hz / (w * c); printf "%.0f", (p > 100 ? 100 : p) }')
		printf '%-10s round %d: wall %6.3f s  cpu %6.3f s  peak RSS %7.1f MiB  nginx cpu %6.3f s  idle %3s%%\n' \
			"$tool" $((r + 1)) "$wall" "$cpu" "$rss_mib" "$srv" "$idle"
		walls[$tool]+="$wall " cpus[$tool]+="$cpu " rsss[$tool]+="$rss_mib "
		srvs[$tool]+="$srv "
	done
done

# median LIST: the median of the numbers in LIST, or "failed" when empty.
median() {
	# shellcheck disable=SC2086
	printf '%s\n' $1 | sort -g | awk '{ v[NR] = $1 }
		END { if (!NR) print "failed"
		      else if (NR % 2) print v[(NR + 1) / 2]
		      else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# The medians of the successful rounds (every round is listed above): one
# slow or fast round, which a shared VM gives now and then, moves neither
# the figures nor the ratios.
declare -A med_wall med_cpu min_wall
result="RESULT $name"
for tool in $tools; do
	med_wall[$tool]=$(median "${walls[$tool]:-}")
	med_cpu[$tool]=$(median "${cpus[$tool]:-}")
	# shellcheck disable=SC2086
	min_wall[$tool]=$(printf '%s\n' ${walls[$tool]:-failed} | sort -g | head -1)
	if [[ ${med_wall[$tool]} == failed ]]; then
		result+=" ${tool}_wall_s=failed"
	else
		printf '%-10s median of %d: wall %6.3f s  cpu %6.3f s  (best wall %.3f s)\n' \
			"$tool" "$(wc -w <<<"${walls[$tool]}")" "${med_wall[$tool]}" \
			"${med_cpu[$tool]}" "${min_wall[$tool]}"
		result+=" ${tool}_wall_s=${med_wall[$tool]} ${tool}_cpu_s=${med_cpu[$tool]}"
		result+=" ${tool}_rss_mib=$(median "${rsss[$tool]}")"
		result+=" ${tool}_srv_cpu_s=$(median "${srvs[$tool]}")"
	fi
done
ratio() { # ratio A B: A/B with two decimals, or "na"
	[[ $1 == failed || -z $1 || $2 == failed || -z $2 ]] && { echo na; return; }
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "na" }'
}
result+=" wall_vs_curl=$(ratio "${med_wall[ringpool]:-failed}" "${med_wall[curl]:-failed}")"
result+=" cpu_vs_curl=$(ratio "${med_cpu[ringpool]:-failed}" "${med_cpu[curl]:-failed}")"
result+=" best_wall_vs_curl=$(ratio "${min_wall[ringpool]:-failed}" "${min_wall[curl]:-failed}")"
floor=failed
if [[ ${med_cpu[ringpool]:-failed} != failed ]]; then
	srv=$(median "${srvs[ringpool]}")
	if [[ -n $client_cpus && -n $server_cpus ]]; then
		floor=$(awk -v c="${med_cpu[ringpool]}" -v s="$srv" -v a="$client_n" -v b="$server_n" \
			'BEGIN { x = c / a; y = s / b; printf "%.3f", (x > y ? x : y) }')
		printf 'ringpool: the larger of client cpu / %d and nginx cpu / %d = %.3f s, the least wall time those allow\n' \
			"$client_n" "$server_n" "$floor"
	else
		floor=$(awk -v c="${med_cpu[ringpool]}" -v s="$srv" -v n="$(nproc)" \
			'BEGIN { printf "%.3f", (c + s) / n }')
		printf 'ringpool: (client cpu + nginx cpu) / %d cores = %.3f s, the least wall time those allow\n' \
			"$(nproc)" "$floor"
	fi
fi
result+=" floor_vs_curl=$(ratio "$floor" "${med_wall[curl]:-failed}")"
[[ " $tools " == *" curl_split "* ]] &&
	result+=" split_vs_curl=$(ratio "${med_wall[curl_split]:-failed}" "${med_wall[curl]:-failed}")"

if ((rss100k)); then
	# 100,000 URLs: each file 50 times, each under a name of its own.
	big="$work/urls-100k.txt"
	for ((j = 0; j < 50; j++)); do
		awk -v j="$j" '{ printf "%s name=c%02d-%s\n", $0, j, substr($0, length($0) - 9) }' "$list"
	done >"$big"
	dir=$(run_dir ringpool.100k $((50 * nfiles * fsize)))
	log "ringpool get: 100,000-URL input"
	if pin "$client_cpus" "$runstat" -o "$work/time" \
	    "$ringpool" get -j 64 --per-host 64 "${rp_extra[@]}" -q -d "$dir" -i "$big" \
	    >/dev/null 2>"$work/err" &&
	    [[ $(find "$dir" -type f | wc -l) -eq 100000 ]]; then
		read -r wall user sys rss <"$work/time"
		rss_mib=$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')
		printf 'ringpool 100,000 URLs: wall %.3f s  peak RSS %s MiB\n' "$wall" "$rss_mib"
		result+=" rss_100k_mib=$rss_mib"
	else
		log "100,000-URL run FAILED: $(head -c 300 "$work/err")"
		result+=" rss_100k_mib=failed"
	fi
fi
echo "$result"
