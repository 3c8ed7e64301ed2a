# expect: GO163
# Metrics Server's ClusterRole, synced to every cluster with prune and self-heal, quietly
# grows Secret reads: the vendored file is edited by hand, and none of the app's RBAC
# checks look at an add-on's render.
sed -i 's/      - nodes\/metrics$/      - nodes\/metrics\n      - secrets/' addons/metrics-server/upstream/rbac.yaml
grep -q secrets addons/metrics-server/upstream/rbac.yaml
