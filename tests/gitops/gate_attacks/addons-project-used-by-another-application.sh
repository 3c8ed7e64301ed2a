# expect: GO167
# A second Application of the addons project, written under argocd/, deploying the add-on
# folder from a branch: only the addons ApplicationSet may use that project.
cat > argocd/application-extra.yaml <<'Y'
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: extra
spec:
  project: addons
  source:
    repoURL: https://github.com/example-org/flask-gitops.git
    targetRevision: HEAD
    path: argocd
  destination:
    name: dev
    namespace: kube-system
Y
sed -i 's/  - application-root.yaml/  - application-root.yaml\n  - application-extra.yaml/' argocd/kustomization.yaml
