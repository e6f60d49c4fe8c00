#!/usr/bin/env bash
# Side-by-side relay benchmark on loopback: direct TCP, each Switchboard engine (splice,
# uring, copy, QUIC), HAProxy in TCP mode with and without splice, and socat -b 131072.
# See bench/README.md. Usage: bench/scripts/relay-compare.sh [--quick] [--targets a,b,c]
# Needs root for the package installs, `ulimit -n` and the port range (best effort otherwise).
set -euo pipefail

QUICK=""
TARGETS="direct,splice,uring,uring-zc,copy,quic,haproxy-splice,haproxy,socat"
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK="--quick" ;;
        --targets) TARGETS="$2"; shift ;;
        -h|--help) sed -n 2,6p "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$CARGO_TARGET_DIR/release"
RESULTS="$ROOT/bench/results"
WORK="$(mktemp -d /tmp/relay-compare.XXXXXX)"
RELAY_PORT=25656
PROXY_PORT=25700
BACKEND_PORT=25800
PIDS=()

cleanup() {
    for p in "${PIDS[@]:-}"; do
        [ -n "$p" ] && kill "$p" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

log() { printf '== %s\n' "$*" >&2; }

# --- tools -----------------------------------------------------------------------------
need_pkgs=()
command -v haproxy >/dev/null || need_pkgs+=(haproxy)
command -v socat >/dev/null || need_pkgs+=(socat)
if [ ${#need_pkgs[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        log "installing ${need_pkgs[*]}"
        apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
    else
        log "missing ${need_pkgs[*]} (run as root to install); those targets will be skipped"
    fi
fi

log "building release binaries (relay_bench, relay_host, switchboard)"
(cd "$ROOT" && cargo build --release -q -p switchboard-bench --bin relay_bench --bin relay_host)
# The relay under test is `switchboard relay --config` (the product binary). RELAY_HOST=1, or a
# `switchboard` binary that does not build (it links every crate of the workspace), selects
# relay_host: the same relay library and config file, without the broker crate. A stale
# binary from an earlier build is never used.
RELAY_CMD=("$BIN/relay_host")
if [ "${RELAY_HOST:-0}" != 1 ]; then
    if (cd "$ROOT" && cargo build --release -q -p switchboard-broker --bin switchboard); then
        RELAY_CMD=("$BIN/switchboard" relay --config)
    else
        log "switchboard does not build; using relay_host"
    fi
fi
log "relay command: ${RELAY_CMD[*]}"

# --- limits ----------------------------------------------------------------------------
ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
sysctl -q -w net.ipv4.ip_local_port_range="1024 65000" 2>/dev/null || true
sysctl -q -w net.core.somaxconn=65535 2>/dev/null || true
sysctl -q -w net.ipv4.tcp_max_syn_backlog=65535 2>/dev/null || true
# The relay and the driver ask for 16 MiB UDP buffers (one socket carries every QUIC session);
# the kernel caps them at these.
sysctl -q -w net.core.rmem_max=33554432 2>/dev/null || true
sysctl -q -w net.core.wmem_max=33554432 2>/dev/null || true
log "open files limit: $(ulimit -n)"
# Idle-memory steps: 10,000 and 50,000 sessions (quick: 2,000 and 5,000), capped by what the
# open-files limit allows (each session is 2 sockets in the relay and 2 in the driver).
if [ -n "$QUICK" ]; then STEPS=(2000 5000); else STEPS=(10000 50000); fi
CAP=$(( ($(ulimit -n) - 1200) / 2 ))
MEM_STEPS=""
HAP_MAXCONN=$(( CAP < 250000 ? CAP + 50 : 250000 ))
for s in "${STEPS[@]}"; do
    [ "$s" -gt "$CAP" ] && { log "memory step $s exceeds the fd limit; using $CAP"; s=$CAP; }
    case ",$MEM_STEPS," in *",$s,"*) ;; *) MEM_STEPS="${MEM_STEPS:+$MEM_STEPS,}$s" ;; esac
done

# --- keys and certificate ----------------------------------------------------------------
mapfile -t KEYS < <("$BIN/relay_bench" keys)
SECRET="${KEYS[0]}"
PUBLIC="${KEYS[1]}"
"$BIN/relay_bench" cert --dir "$WORK/cert"

wait_port() { # proto port
    for _ in $(seq 1 100); do
        if ss -H -ln"$1" "sport = :$2" | grep -q .; then return 0; fi
        sleep 0.1
    done
    echo "nothing listens on $1 port $2" >&2
    return 1
}

start_relay() { # engine quic(0|1) -> sets SPID
    local engine="$1" quic="$2" cfg="$WORK/relay-$1.toml"
    {
        echo "relay_id = 1"
        echo "listen = [\"127.0.0.1:$RELAY_PORT\"]"
        if [ "$quic" = 1 ]; then echo "quic_listen = [\"127.0.0.1:$RELAY_PORT\"]"; else echo "quic_listen = []"; fi
        echo "engine = \"$engine\""
        echo "drain_deadline = \"1s\""
        echo "[[broker_keys]]"
        echo "id = 1"
        echo "public_key = \"$PUBLIC\""
        echo "[limits]"
        echo "waiting_per_ip = 1000000"
        echo "waiting_total = 200000"
        echo "max_sessions = 200000"
        echo "max_handshakes = 8192"
        echo "idle_timeout = \"0s\""
        echo "waiting_room_timeout = \"60s\""
        echo "[quic]"
        echo "cert_file = \"$WORK/cert/cert.pem\""
        echo "key_file = \"$WORK/cert/key.pem\""
    } >"$cfg"
    RUST_LOG=warn "${RELAY_CMD[@]}" "$cfg" 2>"$WORK/relay-$engine.log" &
    SPID=$!
    PIDS+=("$SPID")
    wait_port t "$RELAY_PORT" || return 1
    if [ "$quic" = 1 ]; then wait_port u "$RELAY_PORT" || return 1; fi
}

start_haproxy() { # splice(0|1) maxconn maxpipes -> sets SPID
    local cfg="$WORK/haproxy.cfg" splice="" HAP_MAXCONN="$2"
    [ "$1" = 1 ] && splice=$'    option splice-request\n    option splice-response'
    cat >"$cfg" <<EOF
global
    maxconn $HAP_MAXCONN
    maxpipes $3
defaults
    mode tcp
    timeout connect 10s
    timeout client 1h
    timeout server 1h
$splice
frontend relay
    bind 127.0.0.1:$PROXY_PORT
    maxconn $HAP_MAXCONN
    default_backend driver
backend driver
    balance roundrobin
    server s2 127.0.0.1:$BACKEND_PORT source 127.0.0.2 maxconn $HAP_MAXCONN
    server s3 127.0.0.1:$BACKEND_PORT source 127.0.0.3 maxconn $HAP_MAXCONN
    server s4 127.0.0.1:$BACKEND_PORT source 127.0.0.4 maxconn $HAP_MAXCONN
    server s5 127.0.0.1:$BACKEND_PORT source 127.0.0.5 maxconn $HAP_MAXCONN
EOF
    haproxy -db -f "$cfg" 2>"$WORK/haproxy.log" &
    SPID=$!
    PIDS+=("$SPID")
    wait_port t "$PROXY_PORT"
}

start_socat() {
    socat -b 131072 "TCP-LISTEN:$PROXY_PORT,bind=127.0.0.1,fork,reuseaddr,backlog=4096,nodelay" \
        "TCP:127.0.0.1:$BACKEND_PORT,nodelay" 2>"$WORK/socat.log" &
    SPID=$!
    PIDS+=("$SPID")
    wait_port t "$PROXY_PORT"
}

stop() {
    kill "$SPID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SPID" 2>/dev/null || true
    wait "$SPID" 2>/dev/null || true
    sleep 1
}

drive() { # target mode tests out [extra args...]
    local target="$1" mode="$2" tests="$3" out="$4"
    shift 4
    timeout 1800 "$BIN/relay_bench" run --target "$target" --mode "$mode" --tests "$tests" \
        --secret "$SECRET" --relay-id 1 $QUICK --out "$out" "$@" \
        || log "$target: driver exited with an error"
}

PERF="bulk,rtt,many,interactive"
IFS=',' read -r -a LIST <<<"$TARGETS"
for t in "${LIST[@]}"; do
    log "target $t"
    case "$t" in
        direct)
            drive direct direct "$PERF" "$WORK/direct.json" ;;
        splice|uring|copy|uring-zc)
            engine="${t%-zc}"
            if [ "$t" = uring-zc ]; then export SWITCHBOARD_URING_SEND_ZC=65536; fi
            if ! start_relay "$engine" 0; then log "relay did not start: $(tail -3 "$WORK/relay-$engine.log")"; stop; continue; fi
            drive "$t" switchboard "$PERF" "$WORK/$t.json" --addr "127.0.0.1:$RELAY_PORT" --pid "$SPID"
            stop
            if [ "$t" != uring-zc ]; then
                if ! start_relay "$engine" 0; then stop; continue; fi
                drive "$t" switchboard memory "$WORK/$t.mem.json" --addr "127.0.0.1:$RELAY_PORT" \
                    --pid "$SPID" --memory-steps "$MEM_STEPS"
                stop
            fi
            unset SWITCHBOARD_URING_SEND_ZC ;;
        quic)
            if ! start_relay copy 1; then log "relay did not start: $(tail -3 "$WORK/relay-copy.log")"; stop; continue; fi
            drive quic quic "$PERF" "$WORK/quic.json" --addr "127.0.0.1:$RELAY_PORT" \
                --quic-addr "127.0.0.1:$RELAY_PORT" --cert-der "$WORK/cert/cert.der" --pid "$SPID"
            stop ;;
        haproxy-splice|haproxy)
            command -v haproxy >/dev/null || { log "no haproxy"; continue; }
            sp=0; [ "$t" = haproxy-splice ] && sp=1
            # Performance run: room for the 1,000-session tests and HAProxy's default pipes.
            if ! start_haproxy "$sp" 4000 1000; then log "haproxy did not start: $(tail -2 "$WORK/haproxy.log")"; stop; continue; fi
            drive "$t" proxy "$PERF" "$WORK/$t.json" --addr "127.0.0.1:$PROXY_PORT" \
                --backend "127.0.0.1:$BACKEND_PORT" --pid "$SPID"
            stop
            # Memory run: as many connections as the fd limit allows, few pipes (idle sessions).
            if ! start_haproxy "$sp" "$HAP_MAXCONN" 256; then stop; continue; fi
            drive "$t" proxy memory "$WORK/$t.mem.json" --addr "127.0.0.1:$PROXY_PORT" \
                --backend "127.0.0.1:$BACKEND_PORT" --pid "$SPID" --memory-steps "$MEM_STEPS"
            stop ;;
        socat)
            command -v socat >/dev/null || { log "no socat"; continue; }
            start_socat
            drive socat proxy "$PERF" "$WORK/socat.json" --addr "127.0.0.1:$PROXY_PORT" \
                --backend "127.0.0.1:$BACKEND_PORT" --pid "$SPID"
            stop ;;
        *) log "unknown target $t" ;;
    esac
done

mkdir -p "$RESULTS"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
KIND="full"; [ -n "$QUICK" ] && KIND="quick"
"$BIN/relay_bench" report --dir "$WORK" --order "$TARGETS" \
    --out "$RESULTS/relay-compare-$KIND-$STAMP.json" --markdown "$RESULTS/relay-compare-$KIND-$STAMP.md"
cp "$RESULTS/relay-compare-$KIND-$STAMP.json" "$RESULTS/relay-compare-$KIND-latest.json"
cp "$RESULTS/relay-compare-$KIND-$STAMP.md" "$RESULTS/relay-compare-$KIND-latest.md"
log "results: $RESULTS/relay-compare-$KIND-$STAMP.{json,md}"
