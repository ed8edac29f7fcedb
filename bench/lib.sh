# Sourced by the benchmark scripts that start servers: one work directory, removed at the end
# with every server whose pid is in it, free loopback ports, the real Loki, the lokal binary.
#
#   . bench/lib.sh
#   bench_workdir bench/out/NAME      # sets $out; the EXIT trap stops servers and removes it
#   bench_lokal_bin                   # sets $LOKAL_BIN (a release build unless already set)
#   port=$(free_port)
#   start_loki NAME                   # Loki 3.7.6 of ../shared in $out/NAME; sets $addr
#   stop_loki NAME
#
# Servers started elsewhere are stopped at exit when their pid is written to $out/*.pid.

shared=${shared:-../shared}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

bench_workdir() {
  out=$1
  rm -rf "$out" && mkdir -p "$out"
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
}

bench_cleanup() {
  local p
  for p in $(cat "$out"/*.pid 2>/dev/null); do kill "$p" 2>/dev/null || true; done
  # Loki takes a moment to let go of its directory.
  sleep 3
  rm -rf "$out"
}

bench_lokal_bin() {
  if [ -z "${LOKAL_BIN:-}" ]; then
    cargo build --release -q
    LOKAL_BIN=$PWD/target/release/lokal
  fi
}

start_loki() {
  local http grpc
  http=$(free_port)
  grpc=$(free_port)
  "$shared/loki/start-loki.sh" "$out/$1" "$http" "$grpc" >"$out/$1.pid"
  addr=http://127.0.0.1:$http
}

stop_loki() {
  kill "$(cat "$out/$1.pid")" 2>/dev/null || true
  rm -f "$out/$1.pid"
}
