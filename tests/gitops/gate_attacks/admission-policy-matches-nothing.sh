# expect: GO151
# The policy's own matchConstraints (GO151 checks only the binding's matchResources) get an
# objectSelector no object carries: the policy matches nothing and admits every image.
python3 - <<'P'
p='apps/flask-app/base/validatingadmissionpolicy.yaml'; s=open(p).read()
old="  matchConstraints:\n"
new="  matchConstraints:\n    objectSelector:\n      matchLabels:\n        flask-app/images-checked: \"true\"\n"
assert old in s
open(p,'w').write(s.replace(old,new))
P
