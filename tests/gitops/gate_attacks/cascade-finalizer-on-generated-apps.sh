# expect: GO146
# finalizer on generated apps + no preserveResourcesOnDeletion (cascade delete on folder removal)
python3 - <<'P'
p='argocd/applicationset.yaml'; s=open(p).read()
s=s.replace("  syncPolicy:\n    preserveResourcesOnDeletion: true\n","  syncPolicy:\n    preserveResourcesOnDeletion: false\n    applicationsSync: sync\n")
s=s.replace("      name: flask-app-{{ .cluster.name }}\n","      name: flask-app-{{ .cluster.name }}\n      finalizers:\n        - resources-finalizer.argocd.argoproj.io\n")
open(p,'w').write(s)
P
