# expect: GO155
# PDB maxUnavailable 0: node drains/upgrades blocked forever (dev)
cat > clusters/dev/pdb.yaml <<'Y'
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: flask-app
spec:
  maxUnavailable: 0
  unhealthyPodEvictionPolicy: IfHealthyBudget
Y
printf 'patches:\n  - path: pdb.yaml\n' >> clusters/dev/kustomization.yaml
