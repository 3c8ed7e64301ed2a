# expect: GO149
# A second ApplicationSet with the same generator: a second Application per cluster folder,
# syncing the same resources to the same cluster (GO149's one-per-folder check is per ApplicationSet).
sed -e 's/^  name: flask-app$/  name: flask-app-canary/' -e 's/name: flask-app-{{ .cluster.name }}/name: flask-app-canary-{{ .cluster.name }}/' argocd/applicationset.yaml > argocd/applicationset-canary.yaml
sed -i 's/  - applicationset.yaml/  - applicationset.yaml\n  - applicationset-canary.yaml/' argocd/kustomization.yaml
