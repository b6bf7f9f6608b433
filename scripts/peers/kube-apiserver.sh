#!/usr/bin/env bash
# A Kubernetes API server and its etcd for the engine tier (npm run test:engine), built from the
# Go module proxy and cached, so only the first run on a machine pays for the build (about 8 min
# for kube-apiserver and 30 s for etcd on two cores with empty Go caches).
#
# Both modules carry `replace` directives (k8s.io/kubernetes points its staging modules at
# ./staging/src/..., etcd's server at ../api and friends), so `go install module@version`
# refuses them. Each is built from a small local module that requires it and repeats those
# replaces with the published modules of the same release (k8s.io/api v0.34.x for Kubernetes
# v1.34.x, go.etcd.io/etcd/api/v3 v3.6.x for etcd v3.6.x).
#   scripts/peers/kube-apiserver.sh install   build if needed; print the directory with both
#   scripts/peers/kube-apiserver.sh path      print that directory without building
set -euo pipefail

k8s_version="${CDM_KUBERNETES_VERSION:-v1.34.2}"
etcd_version="${CDM_ETCD_VERSION:-v3.6.16}"
cache="${CDM_PEERS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cdm-platform}/kube-apiserver-$k8s_version-etcd-$etcd_version"

# build_from_local_module DIR PACKAGE OUTPUT LDFLAGS: go mod tidy, then go build, in DIR.
build_from_local_module() {
    local dir="$1" package="$2" output="$3" ldflags="$4"
    (
        cd "$dir"
        GOFLAGS=-mod=mod go mod tidy >&2
        CGO_ENABLED=0 GOFLAGS="-buildvcs=false -mod=mod" go build -trimpath -ldflags "$ldflags" -o "$output" "$package" >&2
    )
}

build_kube_apiserver() {
    local dir="$cache/src/kube-apiserver" staging minor
    minor="${k8s_version#v1.}"
    staging="v0.$minor"
    mkdir -p "$dir"
    {
        printf 'module cdm-platform/kube-apiserver\n\ngo 1.24.0\n\nrequire k8s.io/kubernetes %s\n\n' "$k8s_version"
        # Every staging module k8s.io/kubernetes replaces with a local path, at its published version.
        for module in api apiextensions-apiserver apimachinery apiserver cli-runtime client-go \
            cloud-provider cluster-bootstrap code-generator component-base component-helpers \
            controller-manager cri-api cri-client csi-translation-lib dynamic-resource-allocation \
            endpointslice externaljwt kms kube-aggregator kube-controller-manager kube-proxy \
            kube-scheduler kubectl kubelet metrics mount-utils pod-security-admission \
            sample-apiserver sample-cli-plugin sample-controller; do
            printf 'replace k8s.io/%s => k8s.io/%s %s\n' "$module" "$module" "$staging"
        done
    } >"$dir/go.mod"
    printf '//go:build tools\n\npackage tools\n\nimport _ "k8s.io/kubernetes/cmd/kube-apiserver"\n' >"$dir/tools.go"
    local v="k8s.io/component-base/version"
    build_from_local_module "$dir" k8s.io/kubernetes/cmd/kube-apiserver "$cache/kube-apiserver" \
        "-X $v.gitVersion=$k8s_version -X $v.gitMajor=1 -X $v.gitMinor=${minor%%.*} -X $v.gitTreeState=clean"
}

build_etcd() {
    local dir="$cache/src/etcd" module
    mkdir -p "$dir"
    {
        printf 'module cdm-platform/etcd\n\ngo 1.26.0\n\nrequire go.etcd.io/etcd/server/v3 %s\n\n' "$etcd_version"
        for module in api/v3 client/pkg/v3 client/v3 pkg/v3; do
            printf 'replace go.etcd.io/etcd/%s => go.etcd.io/etcd/%s %s\n' "$module" "$module" "$etcd_version"
        done
    } >"$dir/go.mod"
    printf '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' >"$dir/tools.go"
    build_from_local_module "$dir" go.etcd.io/etcd/server/v3 "$cache/etcd" \
        "-X go.etcd.io/etcd/api/v3/version.GitSHA=$etcd_version"
}

case "${1:-}" in
    install)
        if [ ! -x "$cache/etcd" ]; then
            echo "kube-apiserver: building etcd $etcd_version from the Go module proxy (cached in $cache)" >&2
            build_etcd
        fi
        if [ ! -x "$cache/kube-apiserver" ]; then
            echo "kube-apiserver: building kube-apiserver $k8s_version from the Go module proxy (cached in $cache)" >&2
            build_kube_apiserver
        fi
        echo "$cache"
        ;;
    path) echo "$cache" ;;
    *) echo "usage: $0 install|path" >&2; exit 2 ;;
esac
