# expect: GO168
# The addons project lists ClusterRoleBindings by kind instead of by name: any Application
# in it could then bind cluster-admin to anyone on every cluster.
sed -i '/kind: ClusterRoleBinding/{n;d}' argocd/projects/appproject-addons.yaml
! grep -q 'name: metrics-server:system:auth-delegator' argocd/projects/appproject-addons.yaml
