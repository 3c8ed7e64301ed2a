# expect: GO153
# 2^20 copies of one ConfigMap from 41 small kustomizations: every level lists the two
# folders of the next one (each with its own namePrefix). Each file is tiny and lists 2
# resources, so GO153's size and count bounds never trigger; kustomize's work doubles per level.
D=apps/flask-app/overlays/dev/d
mkdir -p $D/leaf
printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nconfigMapGenerator:\n  - name: x\n    literals: [a=b]\n    options:\n      disableNameSuffixHash: true\n' > $D/leaf/kustomization.yaml
prev=leaf
for i in $(seq 1 20); do
  for s in a b; do
    mkdir -p $D/l$i$s
    printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamePrefix: %s-\nresources:\n' "$s" > $D/l$i$s/kustomization.yaml
    if [ $prev = leaf ]; then echo "  - ../leaf" >> $D/l$i$s/kustomization.yaml
    else echo "  - ../l$((i-1))a" >> $D/l$i$s/kustomization.yaml; echo "  - ../l$((i-1))b" >> $D/l$i$s/kustomization.yaml; fi
  done
  prev=l$i
done
sed -i 's#^resources:#resources:\n  - d/l20a#' apps/flask-app/overlays/dev/kustomization.yaml
