# expect: GO151
# The validation reads like the real one but is always true (GO151 knows only "true", "1 == 1", "!false").
sed -i 's/    - expression: size(variables.refused) == 0/    - expression: size(variables.refused) >= 0/' apps/flask-app/base/validatingadmissionpolicy.yaml
grep -q 'size(variables.refused) >= 0' apps/flask-app/base/validatingadmissionpolicy.yaml
