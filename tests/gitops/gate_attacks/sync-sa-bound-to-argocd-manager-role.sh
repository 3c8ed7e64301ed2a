# expect: GO133
# The deployer service account Argo CD impersonates on every workload cluster is bound to
# argocd-manager-role (created by `argocd cluster add`: every verb on every resource),
# undoing the restricted-sync-identity defence. Also grants it Secret reads and token minting.
sed -i 's/  name: flask-gitops-deployer$/  name: argocd-manager-role/' argocd/destinations/clusterrolebinding.yaml
sed -i '0,/  name: argocd-manager-role/s//  name: flask-gitops-deployer/' argocd/destinations/clusterrolebinding.yaml
cat >> argocd/destinations/clusterrole.yaml <<'Y'
  - apiGroups: [""]
    resources: [secrets, pods, pods/exec, serviceaccounts/token, nodes/proxy]
    verbs: [get, list, create]
Y
cat argocd/destinations/clusterrolebinding.yaml
