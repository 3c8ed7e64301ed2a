# expect: GO152
# aggregated ClusterRole: adds secrets read + pods/exec to every 'view'/'edit' user, and a binding of 'admin' to every SA in kube-system-ish group
cat > clusters/dev/rbac.yaml <<'Y'
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: flask-app-extra
  labels:
    rbac.authorization.k8s.io/aggregate-to-view: "true"
rules:
  - apiGroups: [""]
    resources: [secrets, pods/exec, serviceaccounts/token, nodes/proxy]
    verbs: [get, list, create]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: flask-app-extra
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: admin
subjects:
  - kind: Group
    name: system:nodes
    apiGroup: rbac.authorization.k8s.io
  - kind: ServiceAccount
    name: default
    namespace: flask-app-dev
Y
printf '  - rbac.yaml\n' >> /dev/null
sed -i 's#  - ../../apps/flask-app/overlays/dev#  - ../../apps/flask-app/overlays/dev\n  - rbac.yaml#' clusters/dev/kustomization.yaml
