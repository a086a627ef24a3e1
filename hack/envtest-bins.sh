#!/usr/bin/env bash
# Builds the envtest control plane (kube-apiserver, etcd) from Go modules, because
# setup-envtest's download sources are unreachable here. Binaries go to a versioned cache
# outside the clone so every fresh clone on this machine reuses them; only what is missing
# is built. Prints the asset directory (for KUBEBUILDER_ASSETS) on stdout.
set -euo pipefail

KUBE_VERSION=${KUBE_VERSION:-1.36.3}
ETCD_VERSION=${ETCD_VERSION:-3.6.16}
CACHE_ROOT=${CRMAUTHZ_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/crmauthz}
ASSETS="$CACHE_ROOT/envtest/k8s-$KUBE_VERSION-etcd-$ETCD_VERSION"
mkdir -p "$ASSETS"

log() { echo "envtest-bins: $*" >&2; }

build_apiserver() {
  local work; work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  log "building kube-apiserver v$KUBE_VERSION (about 5 minutes, once)"
  (
    cd "$work"
    go mod init envtest-kube-apiserver >/dev/null 2>&1
    # The staging modules are replaced by relative paths in k8s.io/kubernetes' go.mod;
    # outside that repository each must point at its published v0.x twin.
    local gomod
    gomod=$(go mod download -json "k8s.io/kubernetes@v$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
    [ -f "$gomod" ] || { log "could not download k8s.io/kubernetes@v$KUBE_VERSION go.mod"; exit 1; }
    local staging="0.${KUBE_VERSION#1.}"
    {
      echo "require k8s.io/kubernetes v$KUBE_VERSION"
      sed -n 's#^[[:space:]]*\(k8s.io/[^ ]*\) => ./staging/src/k8s.io/.*#replace \1 => \1 v'"$staging"'#p' "$gomod"
    } >> go.mod
    cat > tools.go <<'GO'
//go:build tools

package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
GO
    go mod tidy >/dev/null 2>&1 || true
    CGO_ENABLED=0 go build -mod=mod -o "$ASSETS/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver
  )
  mv "$ASSETS/kube-apiserver.tmp" "$ASSETS/kube-apiserver"
}

build_etcd() {
  local work; work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  log "building etcd v$ETCD_VERSION (about a minute, once)"
  (
    cd "$work"
    go mod init envtest-etcd >/dev/null 2>&1
    for m in server api client/pkg client/v3 pkg; do
      case $m in client/v3) mod=go.etcd.io/etcd/client/v3 ;; *) mod=go.etcd.io/etcd/$m/v3 ;; esac
      echo "require $mod v$ETCD_VERSION" >> go.mod
    done
    cat > tools.go <<'GO'
//go:build tools

package tools

import _ "go.etcd.io/etcd/server/v3"
GO
    go mod tidy >/dev/null 2>&1 || true
    CGO_ENABLED=0 go build -mod=mod -o "$ASSETS/etcd.tmp" go.etcd.io/etcd/server/v3
  )
  mv "$ASSETS/etcd.tmp" "$ASSETS/etcd"
}

[ -x "$ASSETS/etcd" ] || build_etcd
[ -x "$ASSETS/kube-apiserver" ] || build_apiserver
# envtest also looks for kubectl among the assets; use the one on PATH when present.
if [ ! -e "$ASSETS/kubectl" ] && command -v kubectl >/dev/null 2>&1; then
  ln -sf "$(command -v kubectl)" "$ASSETS/kubectl"
fi
echo "$ASSETS"
