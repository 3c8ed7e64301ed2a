# expect: GO153
# CPU bomb within every bound: 10,000 tiny inline JSON patches (under 1 MiB)
python3 - <<'P'
ps = "".join(f"  - patch: '[{{\"op\":\"add\",\"path\":\"/metadata/labels/x{i}\",\"value\":\"y\"}}]'\n    target:\n      kind: Service\n" for i in range(2000))
s = open('clusters/dev/kustomization.yaml').read() + "patches:\n" + ps
open('clusters/dev/kustomization.yaml','w').write(s)
import os; print(os.path.getsize('clusters/dev/kustomization.yaml'))
P
