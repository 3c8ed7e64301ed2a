# expect: GO136
# Ingress from and egress to every pod of every namespace (namespaceSelector: {}, on every
# port) and to the cloud metadata endpoint: GO136 counts ipBlocks and empty rules only.
python3 - <<'P'
p='apps/flask-app/base/networkpolicy.yaml'; s=open(p).read()
s=s.replace("  egress:\n    # DNS only: the app calls nothing else.\n","  egress:\n    - to:\n        - namespaceSelector: {}\n        - ipBlock:\n            cidr: 169.254.169.254/32\n    # DNS only: the app calls nothing else.\n")
s=s.replace("  ingress:\n","  ingress:\n    - from:\n        - namespaceSelector: {}\n",1)
open(p,'w').write(s)
P
