# Every pinned tool version lives here (Python packages are pinned in requirements/*.txt).
# Makefile, tools/install.sh and the workflows all read this one file.

# Go-built tools: `go install MODULE/CMD@VERSION`.
KUSTOMIZE_VERSION := v5.8.1
KUBECONFORM_VERSION := v0.7.0
ACTIONLINT_VERSION := v1.7.12

# Argo CD: its CRDs (manifests/crds/ in the Go module) give the Application,
# ApplicationSet and AppProject schemas, and the same version is built from source for
# `make e2e` and `make up` (tools/argocd/go.mod requires it; keep the two in step).
# v3.6 needs Go 1.27: the go command fetches that toolchain for those builds only.
ARGOCD_VERSION := v3.6.1
ARGOCD_GOTOOLCHAIN := go1.27.3
# The pnpm that Argo CD's ui/package.json names (packageManager), from the npm registry.
PNPM_VERSION := 12.3.4

# Kubernetes versions validated against: the pinned one and the oldest one the
# README says is supported. Schemas come from the kubernetes-validate package.
KUBERNETES_VERSION := 1.34.0
KUBERNETES_OLDEST_VERSION := 1.31.0

# Debian packages the benchmarks use (installed on demand by make bench).
APT_PACKAGES_BENCH := wrk

# The end-to-end control plane (make e2e), built from source through the Go module
# proxy: tools/k8s/go.mod pins k8s.io/kubernetes and etcd (keep it in step with these).
KUBERNETES_E2E_VERSION := 1.34.2
ETCD_VERSION := v3.6.4
KWOK_VERSION := v0.7.0
# Debian packages the local Argo CD stack uses (installed on demand by make e2e-tools):
# Redis for Argo CD's cache, Chromium for the browser test of its web UI, git for the
# local remote.
APT_PACKAGES_E2E := redis-server chromium git
# The real node (make e2e, and make up NODE=real): containerd, runc and the CNI plugins run
# the dev cluster's pods; buildah and mmdebstrap build the service's image from the
# Dockerfile without a registry; iptables, conntrack for kube-proxy; ipset for kube-router;
# socat bridges the kubelet to its API server. Pinned to the versions tried (Debian 12).
APT_PACKAGES_NODE := containerd=1.6.20~ds1-1+deb12u3 runc=1.1.5+ds1-1+deb12u1 containernetworking-plugins=1.1.1+ds1-3+b5 buildah=1.28.2+ds1-3+deb12u1+b3 mmdebstrap=1.3.5-7 iptables=1.8.9-2 conntrack=1:1.4.7-1+b2 socat=1.7.4.4-2 ipset=7.17-1
# The real node's NetworkPolicy enforcement: kube-router's firewall only (tools/kube-router/go.mod
# pins it). The module proxy serves no newer release; it runs only on the sandbox's node.
KUBE_ROUTER_VERSION := 2.1.0
# Metrics Server, the cluster add-on the HPA needs: its manifests (manifests/base in the Go
# module, vendored into addons/metrics-server/ by tools/vendor-metrics-server.py) and, for the
# local stack, its binary, built from the same module. v0.9.0 is served but not approved.
METRICS_SERVER_VERSION := v0.8.0
