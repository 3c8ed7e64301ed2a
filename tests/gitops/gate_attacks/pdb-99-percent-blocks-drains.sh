# expect: GO155
# minAvailable: 99% rounds up to every pod (fewer than 100 replicas): no pod is ever
# evictable, node drains and cluster upgrades hang. unhealthyPodEvictionPolicy is dropped:
# its default is IfHealthyBudget, which GO155 refuses only when written out.
python3 - <<'P'
p='apps/flask-app/base/pdb.yaml'; s=open(p).read()
s=s.replace("  maxUnavailable: 1\n","  minAvailable: 99%\n")
s=s.replace("  # A pod that is not Ready serves nothing; evicting it must never block a node drain.\n  unhealthyPodEvictionPolicy: AlwaysAllow\n","")
open(p,'w').write(s)
P
cat apps/flask-app/base/pdb.yaml
