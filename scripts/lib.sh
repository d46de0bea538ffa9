# Shared by run-tests.sh, demo.sh and bench.sh (source it, don't run it).
#
# PostgreSQL refuses to run as root, and CI and the README commands run as
# root: every server we start runs as the unprivileged user "postgres", in a
# work directory that user owns under /tmp (the checkout may sit where
# postgres cannot even look, such as /root). tmp/<name> in the checkout is a
# symlink to it, so what a run left behind is easy to find.

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_CONFIG=${PG_CONFIG:-pg_config}
pg_bindir=$("$PG_CONFIG" --bindir)
pgxs_src=$(cd "$(dirname "$("$PG_CONFIG" --pgxs)")/.." && pwd)   # .../lib/pgxs/src
pg_regress="$pgxs_src/test/regress/pg_regress"
pg_perl_lib="$pgxs_src/test/perl"

# build_and_install: compile both extensions and install them into the server.
build_and_install() {
  make -s -C "$repo" >/dev/null
  if [ "$(id -u)" -eq 0 ]; then
    make -s -C "$repo" install >/dev/null
  else
    # A developer's own machine: needs write access to the server's dirs.
    make -s -C "$repo" install >/dev/null || {
      echo "make install failed: run as root, or with write access to $("$PG_CONFIG" --pkglibdir)" >&2
      return 1
    }
  fi
}

# make_workdir NAME: prints a fresh directory the server user owns and links
# $repo/tmp/NAME to it.
make_workdir() {
  local name=$1 dir
  dir=$(mktemp -d "/tmp/pgque_worker-$name.XXXXXX")
  chmod 755 "$dir"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
  mkdir -p "$repo/tmp"
  ln -sfn "$dir" "$repo/tmp/$name"
  echo "$dir"
}

# as_pg CMD...: runs CMD as the server user, with the server's binaries first
# on PATH.
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- env PATH="$pg_bindir:$PATH" PERL5LIB="$pg_perl_lib" "$@"
  else
    env PATH="$pg_bindir:$PATH" PERL5LIB="$pg_perl_lib" "$@"
  fi
}

# copy_for_pg SRC... DEST: copies files into DEST, owned by the server user.
copy_for_pg() {
  local dest=${*: -1}
  mkdir -p "$dest"
  cp -R "${@:1:$#-1}" "$dest"/
  [ "$(id -u)" -eq 0 ] && chown -R postgres: "$dest"
  return 0
}

# start_cluster DIR [SETTING...]: a new cluster in DIR/data, listening only
# on a Unix socket in DIR (no port to collide with), with pgque_worker
# preloaded and SETTINGs ("name = value") added; started as the server user.
start_cluster() {
  local dir=$1
  shift
  as_pg initdb -D "$dir/data" -A trust --no-sync -U postgres >/dev/null
  {
    printf "listen_addresses = ''\nunix_socket_directories = '%s'\n" "$dir"
    printf "shared_preload_libraries = 'pgque_worker'\n"
    [ $# -gt 0 ] && printf '%s\n' "$@"
  } >> "$dir/data/postgresql.conf"
  as_pg pg_ctl -D "$dir/data" -l "$dir/server.log" -w start >/dev/null
}

# stop_cluster DIR: stops the cluster start_cluster made, if it runs.
stop_cluster() {
  as_pg pg_ctl -D "$1/data" -m fast -w stop >/dev/null 2>&1 || true
}

# free_port: a free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_receiver DIR PORT [FAIL_PERCENT]: nginx on 127.0.0.1:PORT answering
# every POST 204 (or 500, to FAIL_PERCENT% of them chosen per request),
# logging "msec webhook-id status" to DIR/nginx/webhooks.log.
start_receiver() {
  local dir=$1 port=$2 fail=${3:-0} split="" check=""
  if [ "$fail" != 0 ]; then
    split="split_clients \"\${request_id}\" \$fail { $fail% 1; * \"\"; }"
    check="if (\$fail) { return 500; }"
  fi
  mkdir -p "$dir/nginx"
  cat > "$dir/nginx/nginx.conf" <<NGINX
worker_processes 1;
pid $dir/nginx/nginx.pid;
error_log $dir/nginx/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $dir/nginx;
    keepalive_requests 1000000;
    $split
    log_format webhook '\$msec \$http_webhook_id \$status';
    server {
        listen 127.0.0.1:$port;
        location / {
            access_log $dir/nginx/webhooks.log webhook;
            $check
            return 204;
        }
    }
}
NGINX
  nginx -c "$dir/nginx/nginx.conf" -p "$dir/nginx"
}

# stop_receiver DIR: stops the nginx start_receiver started, if it runs.
stop_receiver() {
  [ -f "$1/nginx/nginx.pid" ] && kill "$(cat "$1/nginx/nginx.pid")" 2>/dev/null || true
}
