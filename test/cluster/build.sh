#!/usr/bin/env bash
# cluster build: builds the programs of the tests' local Kubernetes control plane and GitOps
# engines from the Go module proxy: kube-apiserver and kube-controller-manager, Flux's
# source-controller and kustomize-controller, Argo CD (one binary, linked under the names of its
# components), and copies their CRDs and Argo CD's install manifest beside them.
#
#   test/cluster/build.sh          build unless already built; print where the binaries are
#   test/cluster/build.sh --dir    only print that directory; exit 1 if it is not built yet
#
# The directory is the only line on stdout; progress goes to stderr. Run by `npm run setup`.
#
# The versions are those of the wrapper modules in test/cluster/modules/ (their go.mod and go.sum
# are the one place they live): a module per upstream project, requiring it and copying its own
# replace lines (a dependency's replaces are ignored), with a tools.go naming the commands.
#
# The binaries go to a cache outside the checkout, shared by every clone on the machine:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/ms-stacklight/cluster/<key>/
#     bin/kube-apiserver bin/kube-controller-manager bin/source-controller
#     bin/kustomize-controller bin/argocd (+ argocd-<component> links, git-verify-wrapper.sh)
#     crds/flux/*.yaml crds/argocd/*.yaml argocd/install.yaml versions.txt
# <key> hashes the modules, this script and the Go version. Needs go (GOTOOLCHAIN=local); the
# first build takes ~15-20 min on two cores and ~8 GB of Go caches.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/../../images/build-local.lib.sh
. "$here/../../images/build-local.lib.sh"
PROG=cluster-build
parse_mode "$@"

command -v go >/dev/null || die "go is not installed"
export GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false"

modules=$here/modules
key=$({
  go env GOVERSION
  sha256sum <"${BASH_SOURCE[0]}"
  (cd "$modules" && sha256sum ./*/go.mod ./*/go.sum ./*/tools.go)
} | sha256sum | cut -c1-16)
cache=$(cache_root cluster)

is_built() {
  local program
  for program in kube-apiserver kube-controller-manager source-controller kustomize-controller argocd argocd-repo-server; do
    [ -x "$1/bin/$program" ] || return 1
  done
  [ -s "$1/versions.txt" ] && compgen -G "$1/crds/flux/*.yaml" >/dev/null && [ -s "$1/argocd/install.yaml" ]
}
exit_if_cached "$cache/$key" "$key" is_built
start_work "$cache" "$key"
out=$work/out

# module_version <module dir> <module path>
module_version() { (cd "$1" && go list -m -f '{{.Version}}' "$2"); }

k8s_version=$(module_version "$modules/kubernetes" k8s.io/kubernetes)
[[ $k8s_version =~ ^v([0-9]+)\.([0-9]+)\.[0-9]+$ ]] || die "k8s.io/kubernetes $k8s_version is not vX.Y.Z"
# Without these the server reports v0.0.0-master and derives a wrong emulation version.
ldflags=""
for package in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $package.gitVersion=$k8s_version -X $package.gitMajor=${BASH_REMATCH[1]}"
  ldflags+=" -X $package.gitMinor=${BASH_REMATCH[2]} -X $package.gitTreeState=clean"
done
say "building kube-apiserver and kube-controller-manager $k8s_version"
(cd "$modules/kubernetes" && go build -trimpath -ldflags "$ldflags" -o "$out/bin/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager)

flux_source=$(module_version "$modules/flux" github.com/fluxcd/source-controller)
flux_kustomize=$(module_version "$modules/flux" github.com/fluxcd/kustomize-controller)
say "building source-controller $flux_source and kustomize-controller $flux_kustomize"
(cd "$modules/flux" && go build -trimpath -o "$out/bin/" \
  github.com/fluxcd/source-controller github.com/fluxcd/kustomize-controller)

mkdir -p "$out/crds/flux"
for controller in source-controller kustomize-controller; do
  dir=$(cd "$modules/flux" && go list -m -f '{{.Dir}}' "github.com/fluxcd/$controller")
  cp "$dir"/config/crd/bases/*.yaml "$out/crds/flux/"
done
argocd_version=$(module_version "$modules/argocd" github.com/argoproj/argo-cd/v3)
say "building argocd $argocd_version"
(cd "$modules/argocd" && go build -trimpath -ldflags "-X github.com/argoproj/argo-cd/v3/common.version=${argocd_version#v}" \
  -o "$out/bin/argocd" github.com/argoproj/argo-cd/v3/cmd)
for component in argocd-application-controller argocd-repo-server argocd-cmp-server; do
  ln -s argocd "$out/bin/$component"
done
argocd_dir=$(cd "$modules/argocd" && go list -m -f '{{.Dir}}' github.com/argoproj/argo-cd/v3)
mkdir -p "$out/crds/argocd" "$out/argocd"
cp "$argocd_dir"/manifests/crds/*-crd.yaml "$out/crds/argocd/"
cp "$argocd_dir/manifests/install.yaml" "$out/argocd/install.yaml"
# the repo server runs it for every revision it resolves
cp "$argocd_dir/hack/git-verify-wrapper.sh" "$out/bin/"
chmod -R u+w "$out/crds" "$out/argocd" "$out/bin"
chmod +x "$out/bin/git-verify-wrapper.sh"
printf 'kubernetes %s\nsource-controller %s\nkustomize-controller %s\nargocd %s\n' \
  "$k8s_version" "$flux_source" "$flux_kustomize" "$argocd_version" >"$out/versions.txt"
move_into_place "$out" "$cache/$key" is_built
printf '%s\n' "$cache/$key"
