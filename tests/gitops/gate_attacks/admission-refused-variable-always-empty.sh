# expect: GO151
# The image admission policy still says Deny and Fail and its validation still reads
# `size(variables.refused) == 0`, but the variable it tests is now always empty:
# every image from every registry is admitted.
python3 - <<'P'
p='apps/flask-app/base/validatingadmissionpolicy.yaml'; s=open(p).read()
old="""        variables.images.filter(i, !(i.startsWith(variables.repository)"""
new="""        variables.images.filter(i, i == '' && !(i.startsWith(variables.repository)"""
assert old in s
open(p,'w').write(s.replace(old,new))
P
