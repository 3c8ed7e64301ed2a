# expect: GO158
# flask-app AppProject: no destinationServiceAccounts (Argo CD syncs as its own cluster-admin
# identity again) and ClusterRoleBindings allowed; dev's folder binds the app's service
# account to argocd-manager-role, the every-verb role `argocd cluster add` creates (GO133
# knows only cluster-admin, admin and edit).
python3 - <<'P'
p='argocd/projects/appproject.yaml'; s=open(p).read()
a=s.index("  destinationServiceAccounts:\n"); b=s.index("  clusterResourceWhitelist:\n")
s=s[:a]+s[b:]
s=s.replace("  clusterResourceWhitelist:\n","  clusterResourceWhitelist:\n    - group: rbac.authorization.k8s.io\n      kind: ClusterRoleBinding\n",1)
open(p,'w').write(s)
P
cat > clusters/dev/debug-access.yaml <<'Y'
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: flask-app-dev-debug
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: argocd-manager-role
subjects:
  - kind: ServiceAccount
    name: flask-app
    namespace: flask-app-dev
Y
sed -i 's#  - ../../apps/flask-app/overlays/dev#  - ../../apps/flask-app/overlays/dev\n  - debug-access.yaml#' clusters/dev/kustomization.yaml
