#!/usr/bin/env bash
# Smoke test for the binaries from hack/k8s/build.sh: etcd + kube-apiserver + kube-controller-manager
# on 127.0.0.1, then kubectl: namespace -> default ServiceAccount -> Deployment -> Pod object exists
# (it stays Pending: there is no scheduler or kubelet).
#
#   hack/k8s/smoke.sh [BIN_DIR]      (default: the dir printed by build.sh, building if needed)
#   KEEP=1 hack/k8s/smoke.sh         keep the temp dir (logs, certs) for debugging
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BIN=${1:-$("$HERE/build.sh" | tail -n1)}
for b in etcd kube-apiserver kube-controller-manager kubectl; do
  [[ -x $BIN/$b ]] || { echo "missing $BIN/$b" >&2; exit 1; }
done

T=$(mktemp -d "${TMPDIR:-/tmp}/k8s-smoke.XXXXXX")
PIDS=()
cleanup() {
  local rc=$? p i n t0
  trap '' INT TERM # a second Ctrl-C must not abort the teardown
  t0=$(now)
  # reverse start order: kcm, apiserver (while etcd is still up: it hangs on shutdown without it), etcd
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    p=${PIDS[i]}
    kill -TERM "$p" 2>/dev/null || true
    for ((n = 0; n < 100; n++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$p" 2>/dev/null && { log "pid $p ignored SIGTERM for 10s, SIGKILL"; kill -KILL "$p" 2>/dev/null || true; }
    wait "$p" 2>/dev/null || true
  done
  log "stopped ${#PIDS[@]} processes in $(since "$t0")s"
  if ((rc != 0)); then
    for f in etcd kube-apiserver kube-controller-manager; do
      [[ -f $T/$f.log ]] && { echo "--- last lines of $f.log" >&2; tail -n 25 "$T/$f.log" >&2; }
    done
  fi
  if [[ ${KEEP:-} == 1 ]]; then echo "kept $T" >&2; else rm -rf "$T"; fi
  exit "$rc"
}
# fds 3/4 = the script's own stderr/stdout: a trap runs with the redirections of the command it
# interrupted (e.g. `>/dev/null 2>&1` in wait_for), so the teardown writes there explicitly.
exec 3>&2 4>&1
trap 'cleanup 2>&3 1>&4' EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
log() { echo "[smoke] $*" >&2; }
# wait_for SECONDS DESCRIPTION COMMAND...: retry COMMAND every 0.2s
wait_for() {
  local deadline=$(($(date +%s) + $1)) what=$2
  shift 2
  until "$@" >/dev/null 2>&1; do
    if (($(date +%s) >= deadline)); then log "timeout waiting for $what"; return 1; fi
    for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null || { log "process $p died ($what)"; return 1; }; done
    sleep 0.2
  done
}

# Four distinct free loopback ports (sockets held until all four are picked).
read -r ETCD_PORT PEER_PORT API_PORT KCM_PORT < <(python3 -c '
import socket
s = [socket.socket() for _ in range(4)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')

# Credentials: service-account key pair, a system:masters bearer token, kubeconfig.
openssl genrsa -out "$T/sa.key" 2048 2>/dev/null
openssl rsa -in "$T/sa.key" -pubout -out "$T/sa.pub" 2>/dev/null
TOKEN=$(openssl rand -hex 16)
echo "$TOKEN,smoke-admin,smoke-admin,\"system:masters\"" >"$T/tokens.csv"
cat >"$T/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: smoke
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority: $T/pki/apiserver.crt
users:
- name: smoke-admin
  user:
    token: $TOKEN
contexts:
- name: smoke
  context: {cluster: smoke, user: smoke-admin}
current-context: smoke
EOF
export KUBECONFIG=$T/kubeconfig
kc() { "$BIN/kubectl" --request-timeout=5s "$@"; }

log "binaries: $BIN"
log "ports: etcd=$ETCD_PORT peer=$PEER_PORT apiserver=$API_PORT kcm=$KCM_PORT dir=$T"
"$BIN/kubectl" version --client >&2

t=$(now)
"$BIN/etcd" --name=smoke --data-dir="$T/etcd" \
  --listen-client-urls="http://127.0.0.1:$ETCD_PORT" --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls="http://127.0.0.1:$PEER_PORT" --initial-advertise-peer-urls="http://127.0.0.1:$PEER_PORT" \
  --initial-cluster="smoke=http://127.0.0.1:$PEER_PORT" \
  --unsafe-no-fsync --log-level=warn >"$T/etcd.log" 2>&1 3>&- 4>&- &
PIDS+=($!)
wait_for 30 "etcd /health" curl -fsS "http://127.0.0.1:$ETCD_PORT/health"
log "etcd healthy after $(since "$t")s ($("$BIN/etcd" --version | head -n1))"

t=$(now)
"$BIN/kube-apiserver" \
  --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
  --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$API_PORT" \
  --endpoint-reconciler-type=none \
  --cert-dir="$T/pki" \
  --service-cluster-ip-range=10.0.0.0/24 \
  --service-account-issuer="https://127.0.0.1:$API_PORT" \
  --service-account-key-file="$T/sa.pub" --service-account-signing-key-file="$T/sa.key" \
  --authorization-mode=RBAC \
  --token-auth-file="$T/tokens.csv" \
  >"$T/kube-apiserver.log" 2>&1 3>&- 4>&- &
PIDS+=($!)
wait_for 120 "kube-apiserver /readyz" kc get --raw /readyz
API_READY=$(since "$t")
log "kube-apiserver ready after ${API_READY}s (process start -> /readyz ok)"
kc version >&2

t=$(now)
"$BIN/kube-controller-manager" \
  --kubeconfig="$T/kubeconfig" \
  --leader-elect=false \
  --controllers=deployment-controller,replicaset-controller,serviceaccount-controller,namespace-controller,garbage-collector-controller \
  --bind-address=127.0.0.1 --secure-port="$KCM_PORT" \
  --service-account-private-key-file="$T/sa.key" --root-ca-file="$T/pki/apiserver.crt" \
  >"$T/kube-controller-manager.log" 2>&1 3>&- 4>&- &
PIDS+=($!)
wait_for 60 "kube-controller-manager /healthz" curl -fsSk "https://127.0.0.1:$KCM_PORT/healthz"
log "kube-controller-manager healthy after $(since "$t")s"

t=$(now)
kc create namespace smoke >&2
wait_for 60 "default ServiceAccount" kc -n smoke get serviceaccount default
log "namespace smoke has its default ServiceAccount after $(since "$t")s"

t=$(now)
kc -n smoke create deployment web --image=nginx >&2
pods() { [[ -n $(kc -n smoke get pods -l app=web -o name) ]]; }
wait_for 60 "a Pod of deployment web" pods
log "Pod created after $(since "$t")s:"
kc -n smoke get pods -l app=web \
  -o custom-columns=NAME:.metadata.name,IMAGE:.spec.containers[0].image,PHASE:.status.phase,OWNER:.metadata.ownerReferences[0].kind >&2
[[ $(kc -n smoke get pods -l app=web -o jsonpath='{.items[0].spec.containers[0].image}') == nginx ]]

kc delete namespace smoke --wait=false >&2
echo "SMOKE OK (kube-apiserver ready in ${API_READY}s)"
