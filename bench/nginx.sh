# bench/nginx.sh: sourced by the benchmarks that put a tool against a local
# nginx (get/run.sh, serve/run.sh).
#
# pin LIST CMD...: runs CMD on the CPUs in LIST (taskset -c, which execs
# it), or anywhere when LIST is empty.
# check_cpus WHO LIST...: exits with status 2 and a message naming WHO when
# a LIST that is not empty is not a list of this machine's CPUs.
#
# nginx_conf DIR PORT ROOT WORKERS: writes DIR/nginx.conf (and makes DIR/logs
# and DIR/tmp) for an nginx of its own on 127.0.0.1:PORT serving ROOT with
# WORKERS worker processes ("auto" or a number): no access log, sendfile,
# keep-alive connections that last.  Start it with
#   nginx -p DIR -c DIR/nginx.conf -g 'daemon on;'
# and stop it with kill "$(cat DIR/nginx.pid)".
nginx_conf() {
	local dir=$1 port=$2 root=$3 workers=$4
	rm -rf "$dir" && mkdir -p "$dir/logs" "$dir/tmp"
	cat >"$dir/nginx.conf" <<NGINX
worker_processes $workers;
error_log $dir/logs/error.log warn;
pid $dir/nginx.pid;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path $dir/tmp/body;
	proxy_temp_path $dir/tmp/proxy;
	fastcgi_temp_path $dir/tmp/fastcgi;
	uwsgi_temp_path $dir/tmp/uwsgi;
	scgi_temp_path $dir/tmp/scgi;
	sendfile on;
	tcp_nopush on;
	keepalive_requests 1000000;
	types { application/octet-stream bin; }
	server {
		listen 127.0.0.1:$port;
		root $root;
	}
}
NGINX
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

pin() {
	local cpus=$1
	shift
	if [[ -n $cpus ]]; then taskset -c "$cpus" "$@"; else "$@"; fi
}

check_cpus() {
	local who=$1 cpus
	shift
	for cpus in "$@"; do
		[[ -z $cpus ]] || taskset -c "$cpus" true 2>/dev/null ||
			{ echo "$who: '$cpus' is not a list of this machine's CPUs" >&2; exit 2; }
	done
}
