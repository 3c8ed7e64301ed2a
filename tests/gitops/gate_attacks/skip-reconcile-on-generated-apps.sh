# expect: GO150
# skip-reconcile + sync-wave + compare-options on generated Applications (template metadata)
python3 - <<'P'
p='argocd/applicationset.yaml'; s=open(p).read()
s=s.replace("        notifications.argoproj.io/subscribe.on-deployed.github-dispatch: \"\"\n",
 "        notifications.argoproj.io/subscribe.on-deployed.github-dispatch: \"\"\n        argocd.argoproj.io/skip-reconcile: \"true\"\n        argocd.argoproj.io/refresh: hard\n")
open(p,'w').write(s)
P
