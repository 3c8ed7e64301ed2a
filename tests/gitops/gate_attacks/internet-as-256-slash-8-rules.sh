# expect: GO136
# NetworkPolicy egress to the whole IPv4 internet as 256 rules of one /8 each (dev)
python3 - <<'P'
rules="".join(f"  - op: add\n    path: /spec/egress/-\n    value:\n      to:\n        - ipBlock:\n            cidr: {i}.0.0.0/8\n" for i in range(256))
open('clusters/dev/netpol-open.yaml','w').write("# open\n"+rules.replace("  - op","- op").replace("\n    ","\n  "))
s=open('clusters/dev/kustomization.yaml').read()+"patches:\n  - path: netpol-open.yaml\n    target:\n      kind: NetworkPolicy\n      name: flask-app\n"
open('clusters/dev/kustomization.yaml','w').write(s)
P
