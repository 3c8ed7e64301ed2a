# expect: GO146
# ApplicationSet-level: RollingSync strategy (controller syncs prod itself), ignoreApplicationDifferences, requeue 1s
python3 - <<'P'
p='argocd/applicationset.yaml'; s=open(p).read()
s=s.replace("  goTemplate: true\n","  goTemplate: true\n  strategy:\n    type: RollingSync\n    rollingSync:\n      steps:\n        - matchExpressions:\n            - key: flask-gitops/environment\n              operator: In\n              values: [prod]\n  ignoreApplicationDifferences:\n    - jsonPointers:\n        - /spec\n")
s=s.replace("        revision: HEAD\n","        revision: HEAD\n        requeueAfterSeconds: 1\n")
open(p,'w').write(s)
P
