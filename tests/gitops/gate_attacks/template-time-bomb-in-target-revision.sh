# expect: GO157
# Same class as templatepatch-time-bomb.sh, in the template itself: targetRevision turns to an
# unreviewed branch one hour after the change is written (Sprig's `now`, re-evaluated by the controller).
T=$(( $(date +%s) + 3600 ))
sed -i "s#        targetRevision: HEAD\$#        targetRevision: '{{ if gt (now | unixEpoch) \"$T\" }}attacker-branch{{ else }}HEAD{{ end }}'#" argocd/applicationset.yaml
grep -q attacker-branch argocd/applicationset.yaml
