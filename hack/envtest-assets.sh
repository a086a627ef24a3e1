#!/usr/bin/env bash
# Finds the envtest control plane (kube-apiserver, etcd, kubectl-free) and prints its
# directory, trying the fast ways first:
#   1. KUBEBUILDER_ASSETS, when it is set and holds kube-apiserver and etcd;
#   2. setup-envtest ($SETUP_ENVTEST_VERSION, installed into bin/), which downloads the published
#      binaries of Kubernetes $ENVTEST_K8S_MINOR.x when its sources are reachable
#      (seconds);
#   3. hack/envtest-bins.sh, which builds them from Go modules (about 10 minutes, once
#      per machine: a versioned cache outside the clone).
# Progress goes to stderr; stdout is the directory alone.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
log() { echo "envtest: $*" >&2; }
has_bins() { [[ -x "$1/kube-apiserver" && -x "$1/etcd" ]]; }

if [[ -n "${KUBEBUILDER_ASSETS:-}" ]]; then
  if has_bins "$KUBEBUILDER_ASSETS"; then
    log "using KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS"
    (cd "$KUBEBUILDER_ASSETS" && pwd -P)
    exit 0
  fi
  log "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS has no kube-apiserver and etcd: looking elsewhere"
fi

cache="${CRMAUTHZ_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/crmauthz}/envtest"
minor="${ENVTEST_K8S_VERSION%.*}"
# setup-envtest, pinned, installed into bin/ on first use (a small Go build).
setup="$root/bin/setup-envtest-$SETUP_ENVTEST_VERSION"
if [[ "${ENVTEST_SKIP_DOWNLOAD:-0}" != 1 && ! -x "$setup" ]]; then
  log "installing setup-envtest $SETUP_ENVTEST_VERSION into bin/"
  if GOBIN="$root/bin" go install "sigs.k8s.io/controller-runtime/tools/setup-envtest@$SETUP_ENVTEST_VERSION" >&2; then
    mv "$root/bin/setup-envtest" "$setup"
  else
    log "setup-envtest could not be installed: skipping it"
  fi
fi
SETUP_ENVTEST="$setup"
if [[ "${ENVTEST_SKIP_DOWNLOAD:-0}" != 1 && -x "$SETUP_ENVTEST" ]]; then
  if dir=$(timeout 300 "$SETUP_ENVTEST" use "$minor.x" --bin-dir "$cache/setup-envtest" -p path 2>/tmp/setup-envtest.$$.log) && has_bins "$dir"; then
    rm -f /tmp/setup-envtest.$$.log
    log "using setup-envtest's Kubernetes $minor.x in $dir"
    echo "$dir"
    exit 0
  fi
  log "setup-envtest could not get Kubernetes $minor.x ($(tail -1 /tmp/setup-envtest.$$.log 2>/dev/null | cut -c1-160)): building from Go modules"
  rm -f /tmp/setup-envtest.$$.log
fi

KUBE_VERSION="$ENVTEST_K8S_VERSION" ETCD_VERSION="$ENVTEST_ETCD_VERSION" "$root/hack/envtest-bins.sh"
