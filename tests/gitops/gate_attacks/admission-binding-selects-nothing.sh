# expect: GO151
# disable the image admission policy in prod-eu: binding selects a namespace that does not exist
cat > clusters/prod-eu/vapb.yaml <<'Y'
- op: replace
  path: /spec/matchResources/namespaceSelector/matchLabels/kubernetes.io~1metadata.name
  value: flask-app-none
Y
sed -i 's/^patches:/patches:\n  - path: vapb.yaml\n    target:\n      kind: ValidatingAdmissionPolicyBinding/' clusters/prod-eu/kustomization.yaml
