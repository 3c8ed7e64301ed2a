# expect: GO152
# ClusterRole whose verbs escalate in another spelling, + aggregationRule pulling in cluster-admin rules
cat > clusters/dev/rbac.yaml <<'Y'
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: flask-app-agg
aggregationRule:
  clusterRoleSelectors:
    - matchLabels:
        kubernetes.io/bootstrapping: rbac-defaults
rules: []
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: flask-app-agg
  namespace: flask-app-dev
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: flask-app-agg
subjects:
  - kind: ServiceAccount
    name: flask-app
    namespace: flask-app-dev
Y
sed -i 's#  - ../../apps/flask-app/overlays/dev#  - ../../apps/flask-app/overlays/dev\n  - rbac.yaml#' clusters/dev/kustomization.yaml
