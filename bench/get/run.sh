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
# reported as failed.  For each tool the run with the lowest wall time is
# kept, with its CPU time (user+sys, from GNU time) and peak RSS.
#
# Each run writes to a file system of its own: as root, a new ext4 made in an
# image file on the disk and loop-mounted for that run (--fs loop, the
# default when root); otherwise a new folder, deleted when the benchmark
# ends (--fs dir).  ext4 skips recently deleted inodes when it allocates new
# ones, with a scan that grows with the number deleted, so on a file system
# where earlier runs deleted thousands of files, file creation rather than
# the tool is what gets measured.
#
# get_small also measures ringpool's peak RSS for a 100,000-URL input (each
# of the 2,000 files fetched 50 times under distinct names), the input-size
# memory target.  The last line is
#   RESULT get_small|get_big <tool>_wall_s=... <tool>_cpu_s=...
#          <tool>_rss_mib=... ... wall_vs_curl=... cpu_vs_curl=...
#          [rss_100k_mib=...]
# where the ratios are ringpool's over curl's.
#
# Options:
#   --rounds N     runs of each tool (default 3)
#   --tools "LIST" default "curl aria2c wget2 ringpool"
#   --no-rss100k   get_small: skip the 100,000-URL memory run
#   --fs loop|dir  where each run writes (see above)
#
# Runs outside bench/run too, given builddir (and ringpool built there).
set -euo pipefail

name=${1:-}
shift || true
rounds=3
tools="curl aria2c wget2 ringpool"
rss100k=1
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
	-h|--help) usage ;;
	*) echo "get/run.sh: unknown option '$1'" >&2; usage ;;
	esac
done
case "$fs" in
loop|dir) ;;
*) echo "get/run.sh: --fs must be loop or dir" >&2; usage ;;
esac
case "$name" in
get_small) nfiles=2000; fsize=$((16 * 1024)) ;;
get_big) nfiles=4; fsize=$((128 * 1024 * 1024)); rss100k=0 ;;
*) echo "get/run.sh: NAME must be get_small or get_big" >&2; usage ;;
esac

if declare -F ensure_packages >/dev/null; then
	# shellcheck disable=SC2086
	ensure_packages $BUILD_PKGS_STR nginx curl aria2 wget2 time
	build_target cli/ringpool
fi
ringpool="$builddir/cli/ringpool"
[[ -x $ringpool ]] || { echo "get/run.sh: $ringpool is not built" >&2; exit 1; }
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
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ngx="$work/nginx"
rm -rf "$ngx" && mkdir -p "$ngx/logs" "$ngx/tmp"
cat >"$ngx/nginx.conf" <<NGINX
worker_processes auto;
error_log $ngx/logs/error.log warn;
pid $ngx/nginx.pid;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path $ngx/tmp/body;
	proxy_temp_path $ngx/tmp/proxy;
	fastcgi_temp_path $ngx/tmp/fastcgi;
	uwsgi_temp_path $ngx/tmp/uwsgi;
	scgi_temp_path $ngx/tmp/scgi;
	sendfile on;
	tcp_nopush on;
	keepalive_requests 1000000;
	types { application/octet-stream bin; }
	server {
		listen 127.0.0.1:$port;
		root $work/data;
	}
}
NGINX
nginx -p "$ngx" -c "$ngx/nginx.conf" -g 'daemon on;'
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

# run_tool TOOL DIR: one download of the whole list into DIR, timed.
run_tool() {
	local tool=$1 dir=$2
	case "$tool" in
	curl) /usr/bin/time -f '%e %U %S %M' -o "$work/time" \
		curl -Z --parallel-max 64 -s -f --remote-name-all \
		--output-dir "$dir" -K "$list.curl" ;;
	aria2c) /usr/bin/time -f '%e %U %S %M' -o "$work/time" \
		aria2c -j 64 -q -d "$dir" -i "$list" --allow-overwrite=true \
		--auto-file-renaming=false ;;
	wget2) /usr/bin/time -f '%e %U %S %M' -o "$work/time" \
		wget2 --max-threads=64 -q -P "$dir" -i "$list" ;;
	ringpool) /usr/bin/time -f '%e %U %S %M' -o "$work/time" \
		"$ringpool" get -j 64 --per-host 64 -q -d "$dir" -i "$list" ;;
	esac
}

declare -A best_wall best_cpu best_rss
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
		run_tool "$tool" "$dir" >/dev/null 2>"$work/err" || status="exit $?"
		if [[ $status == ok ]] &&
		    ! (cd "$dir" && sha256sum --quiet -c "$data/SHA256SUMS" >/dev/null 2>&1); then
			status="wrong or missing files"
		fi
		if [[ $status != ok ]]; then
			log "$tool round $((r + 1)): FAILED ($status): $(head -c 300 "$work/err")"
			best_wall[$tool]=${best_wall[$tool]:-failed}
			continue
		fi
		read -r wall user sys rss <"$work/time"
		cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
		rss_mib=$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')
		printf '%-9s round %d: wall %6.2f s  cpu %6.2f s  peak RSS %7.1f MiB\n' \
			"$tool" $((r + 1)) "$wall" "$cpu" "$rss_mib"
		prev=${best_wall[$tool]:-failed}
		if [[ $prev == failed ]] || awk -v a="$wall" -v b="$prev" 'BEGIN { exit !(a < b) }'; then
			best_wall[$tool]=$wall best_cpu[$tool]=$cpu best_rss[$tool]=$rss_mib
		fi
	done
done

result="RESULT $name"
for tool in $tools; do
	w=${best_wall[$tool]:-failed}
	if [[ $w == failed ]]; then
		result+=" ${tool}_wall_s=failed"
	else
		result+=" ${tool}_wall_s=$w ${tool}_cpu_s=${best_cpu[$tool]} ${tool}_rss_mib=${best_rss[$tool]}"
	fi
done
ratio() { # ratio A B: A/B with two decimals, or "na"
	[[ $1 == failed || -z $1 || $2 == failed || -z $2 ]] && { echo na; return; }
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "na" }'
}
result+=" wall_vs_curl=$(ratio "${best_wall[ringpool]:-failed}" "${best_wall[curl]:-failed}")"
result+=" cpu_vs_curl=$(ratio "${best_cpu[ringpool]:-failed}" "${best_cpu[curl]:-failed}")"

if ((rss100k)); then
	# 100,000 URLs: each file 50 times, each under a name of its own.
	big="$work/urls-100k.txt"
	for ((j = 0; j < 50; j++)); do
		awk -v j="$j" '{ printf "%s name=c%02d-%s\n", $0, j, substr($0, length($0) - 9) }' "$list"
	done >"$big"
	dir=$(run_dir ringpool.100k $((50 * nfiles * fsize)))
	log "ringpool get: 100,000-URL input"
	if /usr/bin/time -f '%e %U %S %M' -o "$work/time" \
	    "$ringpool" get -j 64 --per-host 64 -q -d "$dir" -i "$big" >/dev/null 2>"$work/err" &&
	    [[ $(find "$dir" -type f | wc -l) -eq 100000 ]]; then
		read -r wall user sys rss <"$work/time"
		rss_mib=$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')
		printf 'ringpool 100,000 URLs: wall %.2f s  peak RSS %s MiB\n' "$wall" "$rss_mib"
		result+=" rss_100k_mib=$rss_mib"
	else
		log "100,000-URL run FAILED: $(head -c 300 "$work/err")"
		result+=" rss_100k_mib=failed"
	fi
fi
echo "$result"
