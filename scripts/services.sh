# Shared by scripts/test and scripts/bench (sourced, not run): starts Redis and MongoDB on free
# loopback ports when the environment does not name them, and stops them on exit.
#
# After `start_services`, REDIS_URL and MONGODB_URI point at servers that answer.

TOOLS="${TOOLS:-$PWD/.tools}"
SECANTUS_VERSION="0.7.0b3"
mkdir -p "$TOOLS"

die() { echo "$(basename "$0"): $*" >&2; exit 1; }

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_for_port PORT NAME: up to 30 s for something to accept connections on 127.0.0.1:PORT.
wait_for_port() {
  for _ in $(seq 1 300); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  die "$2 did not start on port $1 (see $TOOLS/$2.log)"
}

service_pids=()
service_containers=()
stop_services() {
  for pid in "${service_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for c in "${service_containers[@]}"; do docker rm -f "$c" >/dev/null 2>&1 || true; done
}
trap stop_services EXIT

# start_redis [PORT]: on PORT, or on a free one.
start_redis() {
  command -v redis-server >/dev/null || die "redis-server is missing: apt-get install redis-server, or set REDIS_URL"
  local port="${1:-$(free_port)}"
  redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no >"$TOOLS/redis.log" 2>&1 &
  service_pids+=($!)
  wait_for_port "$port" redis
  export REDIS_URL="redis://127.0.0.1:$port"
  echo "started redis-server on port $port"
}

# MongoDB 7 in Docker when a Docker engine answers; else SecantusDB, a MongoDB-wire-compatible
# single-node server from PyPI, installed once into .tools/secantus. start_mongodb [PORT]: on
# PORT, or on a free one.
start_mongodb() {
  command -v python3 >/dev/null || die "python3 is missing: install Python 3 (or set MONGODB_URI)"
  local port="${1:-$(free_port)}"
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    local name="weatherlog-mongo-$$"
    docker run -d --rm --name "$name" -p "127.0.0.1:$port:27017" mongo:7.0 >/dev/null
    service_containers+=("$name")
    wait_for_port "$port" mongo
    echo "started mongo:7.0 in Docker on port $port"
  else
    local secantusd="$TOOLS/secantus/bin/secantusd-py"
    if [ ! -x "$secantusd" ]; then
      echo "no Docker engine; installing SecantusDB $SECANTUS_VERSION into .tools/secantus"
      python3 -m venv "$TOOLS/secantus" || die "python3 -m venv failed: apt-get install python3-venv"
      "$TOOLS/secantus/bin/pip" install --quiet --pre "secantusdb==$SECANTUS_VERSION" \
        || die "could not install secantusdb from PyPI"
    fi
    "$secantusd" --host 127.0.0.1 --port "$port" --storage-path :memory: >"$TOOLS/secantus.log" 2>&1 &
    service_pids+=($!)
    wait_for_port "$port" secantus
    echo "started SecantusDB on port $port"
  fi
  # A single server presents itself as a one-node replica set: talk to it directly.
  export MONGODB_URI="mongodb://127.0.0.1:$port/?directConnection=true"
}

start_services() {
  command -v python3 >/dev/null || die "python3 is missing (it picks free ports): install Python 3"
  if [ -z "${REDIS_URL:-}" ]; then start_redis; fi
  if [ -z "${MONGODB_URI:-}" ]; then start_mongodb; fi
}

# start_fake_upstream BINARY [DELAY_MS]: the recorded-answers stand-in for OpenWeatherMap
# (examples/fake_openweathermap.rs, built as BINARY) on a free port; OPENWEATHER_BASE_URL then
# points at it.
start_fake_upstream() {
  local port
  port=$(free_port)
  "$1" "$port" "${2:-0}" >"$TOOLS/fake-upstream.log" 2>&1 &
  service_pids+=($!)
  wait_for_port "$port" fake-upstream
  export OPENWEATHER_BASE_URL="http://127.0.0.1:$port"
}

# wait_until_ready BASE_URL PID LOG: up to 60 s for BASE_URL/health/ready to answer 200, as
# long as process PID lives.
wait_until_ready() {
  for _ in $(seq 1 600); do
    if curl -fs -o /dev/null "$1/health/ready"; then return 0; fi
    kill -0 "$2" 2>/dev/null || die "the service exited (see $3)"
    sleep 0.1
  done
  die "the service did not get ready within 60 s (see $3)"
}
