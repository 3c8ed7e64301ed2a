# expect: GO149
# same, but prod-eu to prod-us without automated (two apps fight over the same resources, cross-cluster config)
cat > argocd/application-extra.yaml <<'Y'
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: flask-app-prod-us-fast
spec:
  project: flask-app
  source:
    repoURL: https://github.com/example-org/flask-gitops.git
    targetRevision: HEAD
    path: clusters/prod-eu
  destination:
    name: prod-us
    namespace: flask-app-prod
Y
sed -i 's/  - application-root.yaml/  - application-root.yaml\n  - application-extra.yaml/' argocd/kustomization.yaml
