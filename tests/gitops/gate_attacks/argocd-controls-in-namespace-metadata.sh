# expect: GO150
# Argo CD annotations in managedNamespaceMetadata (namespace never pruned, tracked by another app)
python3 - <<'P'
p='argocd/applicationset.yaml'; s=open(p).read()
s=s.replace("        managedNamespaceMetadata:\n","        managedNamespaceMetadata:\n          annotations:\n            argocd.argoproj.io/sync-options: Delete=false,Prune=false\n            argocd.argoproj.io/tracking-id: \"flask-gitops-root:/Namespace:argocd/x\"\n")
s=s.replace("            pod-security.kubernetes.io/audit: restricted\n","            pod-security.kubernetes.io/audit: restricted\n            argocd.argoproj.io/managed-by: argocd\n")
open(p,'w').write(s)
P
