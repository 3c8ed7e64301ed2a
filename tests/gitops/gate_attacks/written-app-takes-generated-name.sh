# expect: GO149
# A hand-written Application under argocd/ with the name the ApplicationSet gives prod-eu's
# Application (flask-app-prod-eu): it syncs the root folder (GO149 is satisfied), so the root
# Application and the ApplicationSet controller now both write the same object; whichever
# wins, `gitops promote` reads flask-app-prod-eu's status from an Application that may not
# deploy prod-eu at all.
cat > argocd/application-extra.yaml <<'Y'
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: flask-app-prod-eu
spec:
  project: flask-gitops-bootstrap
  source:
    repoURL: https://github.com/example-org/flask-gitops.git
    targetRevision: HEAD
    path: argocd
  destination:
    name: in-cluster
    namespace: argocd
Y
sed -i 's/  - application-root.yaml/  - application-root.yaml\n  - application-extra.yaml/' argocd/kustomization.yaml
