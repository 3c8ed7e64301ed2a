# expect: GO158
# Widen what the root Application may do in the argocd namespace: its sync identity may
# change AppProjects and read Argo CD's Secrets (repository and cluster credentials), and
# its project lets Git sync AppProjects. Once an admin applies argocd/projects/, any later
# pull request can rewrite the flask-app AppProject (a reviewed name, so GO143 passes) from argocd/.
python3 - <<'P'
p='argocd/projects/root-sync.yaml'; s=open(p).read()
s=s.replace("    resources: [applications, applicationsets]\n    verbs: [get, create, patch, update, delete]\n",
"    resources: [applications, applicationsets, appprojects]\n    verbs: [get, create, patch, update, delete]\n  - apiGroups: [\"\"]\n    resources: [secrets]\n    verbs: [get, list]\n")
open(p,'w').write(s)
p='argocd/projects/appproject-bootstrap.yaml'; s=open(p).read()
s=s.replace("    - group: argoproj.io\n      kind: Application\n","    - group: argoproj.io\n      kind: Application\n    - group: argoproj.io\n      kind: AppProject\n")
open(p,'w').write(s)
P
