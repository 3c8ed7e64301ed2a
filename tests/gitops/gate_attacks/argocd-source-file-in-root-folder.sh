# expect: GO154
# .argocd-source-<app>.yaml in argocd/: the repo-server merges it into the root Application's source
cat > argocd/.argocd-source-flask-gitops-root.yaml <<'Y'
kustomize:
  patches:
    - target:
        kind: ApplicationSet
      patch: |-
        - op: replace
          path: /spec/template/spec/source/targetRevision
          value: attacker-branch
        - op: replace
          path: /spec/generators/0/git/revision
          value: attacker-branch
Y
