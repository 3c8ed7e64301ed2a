# expect: GO151
# neuter the VAP: every validation true (prod-eu)
cat > clusters/prod-eu/vap.yaml <<'Y'
- op: replace
  path: /spec/validations/0/expression
  value: "true"
- op: replace
  path: /spec/validations/1/expression
  value: "true"
Y
sed -i 's/^patches:/patches:\n  - path: vap.yaml\n    target:\n      kind: ValidatingAdmissionPolicy/' clusters/prod-eu/kustomization.yaml
