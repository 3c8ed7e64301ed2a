# expect: GO149
# A hand-written Application with no source.path: Argo CD renders the repository root in
# directory mode (gitops.yaml is ignored as "not a manifest"), so any manifest at the root deploys.
cat > argocd/application-extra.yaml <<'Y'
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: flask-app-dev-extra
spec:
  project: flask-app
  source:
    repoURL: https://github.com/example-org/flask-gitops.git
    targetRevision: HEAD
  destination:
    name: dev
    namespace: flask-app-dev
  syncPolicy:
    automated:
      prune: true
      selfHeal: true
Y
sed -i 's/  - application-root.yaml/  - application-root.yaml\n  - application-extra.yaml/' argocd/kustomization.yaml
cat > open.yaml <<'Y'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: allow-all
  namespace: flask-app-dev
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
  ingress:
    - {}
  egress:
    - {}
---
apiVersion: v1
kind: Service
metadata:
  name: flask-app-nodeport
  namespace: flask-app-dev
spec:
  type: NodePort
  selector:
    app.kubernetes.io/name: flask-app
  ports:
    - port: 80
      targetPort: 8000
      nodePort: 30080
Y
