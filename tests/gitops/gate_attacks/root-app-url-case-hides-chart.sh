# expect: ARGOCD
# The root Application's repoURL in another letter case (Argo CD lowercases URLs when it
# matches projects and credentials; GO145 compares case-insensitively) makes validate skip
# rendering the root folder with Argo CD's code (_source_path compares case-sensitively), so the
# "kustomize and Argo CD render argocd/ alike" comparison never runs: a *Chart.yaml that sorts
# after kustomization.yaml makes Argo CD render argocd/ as a Helm chart whose templates/ nobody checks.
sed -i 's#repoURL: https://github.com/example-org/flask-gitops.git#repoURL: https://github.com/example-org/Flask-GitOps.git#' argocd/application-root.yaml
# GO122 matches sourceRepos case-sensitively (Argo CD does not): give it the variant too
sed -i '0,/    - https:\/\/github.com\/example-org\/flask-gitops.git/s##    - https://github.com/example-org/flask-gitops.git\n    - https://github.com/example-org/Flask-GitOps.git#' argocd/projects/appproject-bootstrap.yaml
printf 'apiVersion: v2\nname: root\nversion: 0.1.0\n' > argocd/Chart.yaml
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
            name: default-deny
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
