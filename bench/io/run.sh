#!/usr/bin/env bash
# bench/io/run.sh NAME [OPTIONS]: the file-I/O and NOP benchmarks, called by
# bench/run (which exports ensure_packages, build_target, log, $builddir,
# $root and $BUILD_PKGS_STR).
#
#   fileio_cached    4k random reads, cached 1 GiB file, QD 32:
#                    ringpool bench file (io_uring) vs fio io_uring
#   fileio_direct    O_DIRECT 4k random reads at QD 32 and 1 MiB sequential
#                    reads at QD 4: ringpool bench file vs fio io_uring;
#                    then the 1 MiB reads again with both tools' buffers in
#                    huge pages (--huge-pages / --iomem=shmhuge), reserved
#                    for the run when root and given back at the end
#   fileio_fallback  cached 4k random reads on the blocking-thread backend
#                    (4 io_threads, QD 4) vs fio psync with 4 jobs
#   nop              bench-nop (ringpool NOP futures vs raw liburing NOPs)
#
# Options of the fileio_* benchmarks:
#   --runtime S   measured seconds per run (default 5; fileio_direct 3)
#   --rounds N    runs of each side, alternating (default 3; fileio_direct 6)
#   --file PATH   the 1 GiB data file (default $builddir/bench-data/file-1g;
#                 created if missing; must allow O_DIRECT for fileio_direct)
#   --threads N   fileio_fallback: io_threads = fio numjobs = QD (default 4)
# The environment variable FIO_EXTRA adds options to every fio job.
# Options of nop are bench-nop's own (bench-nop --help).
#
# Each run prints a line; a summary gives best and median of each side; the
# last line is "RESULT NAME key=value ...".  IOPS and MB/s (10^6 B/s) are the
# best run of each side, the vs_fio ratios are ringpool's best over fio's;
# fileio_direct reports medians and paired ratios instead (see
# bench_fileio_direct).
set -euo pipefail

name=${1:?usage: run.sh NAME [OPTIONS]}
shift

: "${builddir:?run me through bench/run}"
FILE_SIZE=$((1024 * 1024 * 1024))
RAMP=0.5		# seconds; fio gets it as milliseconds
RAMP_MS=500

runtime=5
rounds=3
file=""
threads=4
extra_fio=()
read -r -a extra_fio <<<"${FIO_EXTRA:-}"

die() {
	printf 'bench/io: %s\n' "$*" >&2
	exit 1
}

parse_fileio_args() {
	while (($#)); do
		case "$1" in
		--runtime) runtime=${2:?--runtime needs a value}; shift 2 ;;
		--rounds) rounds=${2:?--rounds needs a value}; shift 2 ;;
		--file) file=${2:?--file needs a value}; shift 2 ;;
		--threads) threads=${2:?--threads needs a value}; shift 2 ;;
		-h|--help)
			sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
			exit 0
			;;
		*) die "unknown option '$1' (try --help)" ;;
		esac
	done
	[[ $runtime =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--runtime: not a number: $runtime"
	[[ $rounds =~ ^[1-9][0-9]*$ ]] || die "--rounds: not a count: $rounds"
	[[ $threads =~ ^[1-9][0-9]*$ ]] || die "--threads: not a count: $threads"
	if [[ -z $file ]]; then
		file="$builddir/bench-data/file-1g"
	fi
}

# The data file: 1 GiB of random bytes, made once.
make_file() {
	local size
	size=$(stat -c %s "$file" 2>/dev/null || echo 0)
	if ((size >= FILE_SIZE)); then
		return 0
	fi
	mkdir -p "$(dirname "$file")"
	log "creating $file (1 GiB)"
	dd if=/dev/urandom of="$file.tmp" bs=1M count=1024 conv=fsync status=none
	mv "$file.tmp" "$file"
}

# Reads the whole file so that its pages are in the page cache.  Done before
# every run of a cached benchmark: some kernels (DAMON-based reclaim on VMs)
# evict page cache that has not been touched for a few seconds.
prime_cache() {
	dd if="$file" of=/dev/null bs=1M status=none
	dd if="$file" of=/dev/null bs=1M status=none
}

# Percentage of the file's pages in the page cache ("?" without fincore).
cached_pct() {
	local res
	res=$(fincore --bytes --noheadings --output RES "$file" 2>/dev/null) || {
		echo "?"
		return
	}
	awk -v r="$res" -v s="$FILE_SIZE" 'BEGIN { printf "%.0f", 100 * r / s }'
}

check_direct() {
	dd if="$file" of=/dev/null bs=4096 count=1 iflag=direct status=none 2>/dev/null ||
		die "$file: O_DIRECT reads fail on this filesystem; pass --file on one that supports them (ext4, xfs)"
}

# Reads the whole file with O_DIRECT, 1 MiB at a time, until two passes in a
# row run at rates within 15% of each other (at most 5 passes), printing
# each pass's rate.  A virtual disk is often backed by a host that caches:
# blocks not read for a while come from slower storage first, and the first
# rounds would measure that (3 k IOPS rising to 200 k over four rounds was
# seen), whichever tool happened to run them.
warm_device() {
	local pass t0 t1 mbps prev=0 rates=() size
	size=$(stat -c %s "$file")
	for ((pass = 1; pass <= 5; pass++)); do
		t0=$(date +%s%N)
		dd if="$file" of=/dev/null bs=1M iflag=direct status=none ||
			die "$file: O_DIRECT read failed"
		t1=$(date +%s%N)
		mbps=$(awk -v b="$size" -v ns=$((t1 - t0)) 'BEGIN { printf "%.0f", b * 1000 / ns }')
		rates+=("$mbps")
		if awk -v a="$mbps" -v b="$prev" 'BEGIN { exit !(b > 0 && a < 1.15 * b && b < 1.15 * a) }'; then
			break
		fi
		prev=$mbps
	done
	echo "device warm-up: whole-file O_DIRECT passes at ${rates[*]} MB/s"
}

# fio_job ARGS...: runs one fio job; prints "IOPS MB/s CPU%".
fio_job() {
	local out arg jobs=1
	for arg in "$@"; do
		[[ $arg == --numjobs=* ]] && jobs=${arg#--numjobs=}
	done
	out=$(fio --name=x --filename="$file" --time_based --runtime="$runtime" \
		--ramp_time="${RAMP_MS}ms" --output-format=json "$@" "${extra_fio[@]}") ||
		die "fio failed: fio $*"
	python3 -c '
import json, sys
jobs = int(sys.argv[1])
text = sys.stdin.read()
doc = json.loads(text[text.index("{"):])
job = doc["jobs"][0]
rd = job["read"]
if job.get("error"):
    sys.exit("fio job error %d" % job["error"])
# bw is KiB/s; MB/s as 10^6 bytes.  CPU: share of one core (a group
# report gives the mean of its jobs).
print("%.0f %.1f %.0f" % (rd["iops"], rd["bw"] * 1024 / 1e6,
      (job["usr_cpu"] + job["sys_cpu"]) * jobs))
' "$jobs" <<<"$out"
}

# rp_job ARGS...: runs `ringpool bench file` (the same engine users run);
# prints "IOPS MB/s CPU%" from its JSON.
rp_job() {
	local out
	out=$("$builddir/cli/ringpool" bench file --file "$file" --runtime "$runtime" \
		--warmup "$RAMP" --json "$@") || die "ringpool bench file failed: ringpool bench file $*"
	python3 -c '
import json, sys
run = json.load(sys.stdin)["runs"][0]
if run.get("error"):
    sys.exit("ringpool bench file: " + run["error"])
cpu = run["cpu"]
print("%.0f %.1f %.0f" % (run["iops"], run["mb_per_s"],
      100 * (cpu["user_s"] + cpu["sys_s"]) / run["seconds"]))
' <<<"$out"
}

# stats VALUES...: prints "BEST MEDIAN" (best = largest).
stats() {
	printf '%s\n' "$@" | sort -g | awk '
		{ v[NR] = $1 }
		END {
			med = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			print v[NR], med
		}'
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'
}

# compare LABEL UNIT FIELD "FIO ARGS" "RP ARGS" CACHED: alternates rounds of
# the two jobs (reading the file into the page cache before each when CACHED
# is 1), prints each run and a summary; sets cmp_rp, cmp_fio (best values of
# FIELD: 1 = IOPS, 2 = MB/s) and cmp_ratio, the same of the medians in
# cmp_rp_med, cmp_fio_med and cmp_ratio_med, and in cmp_ratio_paired the
# median over rounds of each round's own ratio (its two runs back to back,
# so a drift of the machine or device between rounds falls on both).
compare() {
	local label=$1 unit=$2 field=$3 cached=$6 fio_args rp_args r res pct=""
	local -a fio_v=() rp_v=()
	read -r -a fio_args <<<"$4"
	read -r -a rp_args <<<"$5"
	echo "== $label"
	echo "   fio:      fio ${fio_args[*]} --time_based --runtime=$runtime --ramp_time=${RAMP_MS}ms ${extra_fio[*]}"
	echo "   ringpool: ringpool bench file ${rp_args[*]} --runtime $runtime --warmup $RAMP"
	for ((r = 1; r <= rounds; r++)); do
		# Alternate which side goes first.
		local order=(fio rp)
		((r % 2)) || order=(rp fio)
		local side
		for side in "${order[@]}"; do
			if ((cached)); then
				prime_cache
				pct=" (file cached: $(cached_pct)%)"
			fi
			if [[ $side == fio ]]; then
				res=$(fio_job "${fio_args[@]}")
			else
				res=$(rp_job "${rp_args[@]}")
			fi
			local iops mbps cpu
			read -r iops mbps cpu <<<"$res"
			printf '   round %d %-8s %10s IOPS %9s MB/s  CPU %4s%%%s\n' \
				"$r" "$([[ $side == fio ]] && echo fio || echo ringpool)" \
				"$iops" "$mbps" "$cpu" "$pct"
			local v
			v=$(cut -d' ' -f"$field" <<<"$res")
			if [[ $side == fio ]]; then fio_v+=("$v"); else rp_v+=("$v"); fi
		done
	done
	read -r cmp_fio cmp_fio_med <<<"$(stats "${fio_v[@]}")"
	read -r cmp_rp cmp_rp_med <<<"$(stats "${rp_v[@]}")"
	cmp_ratio=$(ratio "$cmp_rp" "$cmp_fio")
	cmp_ratio_med=$(ratio "$cmp_rp_med" "$cmp_fio_med")
	local paired=()
	for ((r = 0; r < rounds; r++)); do
		paired+=("$(ratio "${rp_v[r]}" "${fio_v[r]}")")
	done
	read -r _ cmp_ratio_paired <<<"$(stats "${paired[@]}")"
	cmp_ratio_paired=$(printf '%.2f' "$cmp_ratio_paired")
	printf '   %-8s best %10s %s  median %10s\n' fio "$cmp_fio" "$unit" "$cmp_fio_med"
	printf '   %-8s best %10s %s  median %10s\n' ringpool "$cmp_rp" "$unit" "$cmp_rp_med"
	printf '   ringpool/fio by round: %s\n' "${paired[*]}"
	printf '   ringpool/fio: best %s, median %s, paired %s\n' "$cmp_ratio" "$cmp_ratio_med" "$cmp_ratio_paired"
}

setup_fileio() {
	# shellcheck disable=SC2086 # a list of package names
	ensure_packages $BUILD_PKGS_STR fio python3
	build_target cli/ringpool
	make_file
}

bench_fileio_cached() {
	parse_fileio_args "$@"
	setup_fileio
	echo "fileio_cached: 4k random reads from a cached 1 GiB file, QD 32, ${runtime}s x $rounds rounds each"
	compare "4k random reads, buffered (page cache), QD 32" IOPS 1 \
		"--ioengine=io_uring --rw=randread --bs=4k --direct=0 --invalidate=0 --fixedbufs=1 --registerfiles=1 --iodepth=32 --iodepth_batch_submit=16 --iodepth_batch_complete_max=16" \
		"--qd 32 --bs 4096 --fixed-bufs --register-files --engine uring" 1
	echo "RESULT fileio_cached ringpool_iops=$cmp_rp fio_iops=$cmp_fio vs_fio=$cmp_ratio"
}

# The device's numbers drift and jump (a host that has cached part of the
# file serves one run at 2-3x).  The device is warmed first (warm_device),
# and the ratios in RESULT are paired: the median over rounds of each
# round's own ratio, its two runs back to back.  The medians' and the best
# runs' ratios go alongside.
bench_fileio_direct() {
	local rand_rp rand_fio rand_ratio rand_med rand_best
	# A device drifts more than the page cache: more, shorter rounds.
	runtime=3 rounds=6
	parse_fileio_args "$@"
	setup_fileio
	check_direct
	echo "fileio_direct: O_DIRECT reads of a 1 GiB file on $(df --output=fstype "$file" | tail -n 1), ${runtime}s x $rounds rounds each"
	warm_device
	compare "O_DIRECT 4k random reads, QD 32" IOPS 1 \
		"--ioengine=io_uring --rw=randread --bs=4k --direct=1 --fixedbufs=1 --registerfiles=1 --iodepth=32 --iodepth_batch_submit=16 --iodepth_batch_complete_max=16" \
		"--qd 32 --bs 4096 --direct --fixed-bufs --register-files --engine uring" 0
	rand_rp=$cmp_rp_med rand_fio=$cmp_fio_med rand_ratio=$cmp_ratio_paired
	rand_med=$cmp_ratio_med rand_best=$cmp_ratio
	compare "O_DIRECT 1 MiB sequential reads, QD 4" MB/s 2 \
		"--ioengine=io_uring --rw=read --bs=1M --direct=1 --fixedbufs=1 --registerfiles=1 --iodepth=4 --iodepth_batch_submit=4 --iodepth_batch_complete_max=4" \
		"--qd 4 --bs 1M --direct --rw read --fixed-bufs --register-files --engine uring" 0
	local min seq="seq_mbps=$cmp_rp_med fio_seq_mbps=$cmp_fio_med vs_fio_seq=$cmp_ratio_paired med_vs_fio_seq=$cmp_ratio_med best_vs_fio_seq=$cmp_ratio" huge=""
	min=$(awk -v a="$rand_ratio" -v b="$cmp_ratio_paired" 'BEGIN { printf "%.2f", (a < b ? a : b) }')
	# The same reads from buffers in huge pages: a 1 MiB buffer is then one
	# physically contiguous piece for the device instead of 256 pages.
	# Both tools get them (fio 3.33 needs 4 pages for its 4 MiB).
	if reserve_huge 4; then
		local hp
		hp=$(awk '/^Hugepagesize:/ { print $2 "k" }' /proc/meminfo)
		compare "O_DIRECT 1 MiB sequential reads, QD 4, buffers in $hp huge pages" MB/s 2 \
			"--ioengine=io_uring --rw=read --bs=1M --direct=1 --fixedbufs=1 --registerfiles=1 --iodepth=4 --iodepth_batch_submit=4 --iodepth_batch_complete_max=4 --iomem=shmhuge --hugepage-size=$hp" \
			"--qd 4 --bs 1M --direct --rw read --fixed-bufs --register-files --engine uring --huge-pages" 0
		huge=" seq_huge_mbps=$cmp_rp_med fio_seq_huge_mbps=$cmp_fio_med vs_fio_seq_huge=$cmp_ratio_paired"
		release_huge
	else
		echo "== 1 MiB sequential reads from huge pages: skipped (too few free huge pages, and not root to reserve them)"
	fi
	echo "RESULT fileio_direct rand_iops=$rand_rp fio_rand_iops=$rand_fio vs_fio_rand=$rand_ratio med_vs_fio_rand=$rand_med best_vs_fio_rand=$rand_best $seq$huge vs_fio=$min"
}

# reserve_huge N: makes sure N huge pages are free, reserving what is
# missing (vm.nr_hugepages, as root) until the script exits.  False when
# they cannot be had.
huge_added=0
release_huge() {
	local cur
	((huge_added)) || return 0
	cur=$(cat /proc/sys/vm/nr_hugepages)
	echo $((cur > huge_added ? cur - huge_added : 0)) >/proc/sys/vm/nr_hugepages
	huge_added=0
}
reserve_huge() {
	local want=$1 free cur
	free=$(awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo)
	[[ -n $free ]] || return 1
	((free >= want)) && return 0
	[[ -w /proc/sys/vm/nr_hugepages ]] || return 1
	cur=$(cat /proc/sys/vm/nr_hugepages)
	trap release_huge EXIT
	huge_added=$((want - free))
	echo $((cur + huge_added)) >/proc/sys/vm/nr_hugepages 2>/dev/null || return 1
	free=$(awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo)
	((free >= want))
}

bench_fileio_fallback() {
	parse_fileio_args "$@"
	setup_fileio
	echo "fileio_fallback: 4k random reads from a cached 1 GiB file, blocking threads: ringpool io_threads=$threads QD $threads vs fio psync numjobs=$threads, ${runtime}s x $rounds rounds each"
	compare "4k random reads, buffered, $threads threads" IOPS 1 \
		"--ioengine=psync --rw=randread --bs=4k --direct=0 --invalidate=0 --numjobs=$threads --group_reporting" \
		"--qd $threads --bs 4096 --engine threads --jobs $threads" 1
	echo "RESULT fileio_fallback ringpool_iops=$cmp_rp fio_iops=$cmp_fio vs_fio=$cmp_ratio"
}

bench_nop() {
	# shellcheck disable=SC2086 # a list of package names
	ensure_packages $BUILD_PKGS_STR
	build_target bench/io/bench-nop
	exec "$builddir/bench/io/bench-nop" "$@"
}

case "$name" in
fileio_cached) bench_fileio_cached "$@" ;;
fileio_direct) bench_fileio_direct "$@" ;;
fileio_fallback) bench_fileio_fallback "$@" ;;
nop) bench_nop "$@" ;;
*) die "unknown benchmark '$name'" ;;
esac
