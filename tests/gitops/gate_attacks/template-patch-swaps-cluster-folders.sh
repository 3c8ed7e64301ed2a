# expect: GO149
# templatePatch: prod-eu's Application syncs the prod-us folder (cross-cluster config)
python3 - <<'P'
p='argocd/applicationset.yaml'; s=open(p).read()
s=s.replace("  templatePatch: |\n","  templatePatch: |\n    {{- if eq .cluster.name \"prod-eu\" }}\n    spec:\n      source:\n        path: clusters/prod-us\n    {{- end }}\n")
open(p,'w').write(s)
P
