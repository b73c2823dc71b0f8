"""Writes the project trybuild builds for a package's compile-fail tests, as
trybuild 1.0 does (the package's dependencies and dev-dependencies, and the
package itself without default features if it has a library), so that its
clean `cargo check` can be timed on its own (docs/PERFORMANCE.md, "Build time"):

    python3 scripts/trybuild_tree.py <workspace> <package dir> <out dir>
    cp <workspace>/Cargo.lock <out dir>/ && cd <out dir> && cargo check -j2
"""
import sys, tomllib, os, json
repo, pkg_dir, out = sys.argv[1], sys.argv[2], sys.argv[3]
ws = tomllib.load(open(os.path.join(repo, 'Cargo.toml'), 'rb'))
pkg = tomllib.load(open(os.path.join(pkg_dir, 'Cargo.toml'), 'rb'))
wsdeps = ws['workspace']['dependencies']
def resolve(name, spec, base):
    if isinstance(spec, str):
        return {'version': spec}
    spec = dict(spec)
    if spec.pop('workspace', False):
        w = wsdeps[name]
        w = {'version': w} if isinstance(w, str) else dict(w)
        feats = w.get('features', []) + spec.pop('features', [])
        w.update(spec); w['features'] = feats
        if 'path' in w: w['path'] = os.path.join(repo, w['path'])
        return w
    if 'path' in spec: spec['path'] = os.path.normpath(os.path.join(base, spec['path']))
    return spec
deps = {}
for sec in ('dependencies', 'dev-dependencies'):
    for n, s in pkg.get(sec, {}).items():
        if n == 'trybuild': continue
        deps[n] = resolve(n, s, pkg_dir)
name = pkg['package']['name']
if 'lib' in pkg or os.path.exists(os.path.join(pkg_dir, 'src', 'lib.rs')):
    deps[name] = {'path': pkg_dir, 'default-features': False}
def val(v):
    if isinstance(v, bool): return 'true' if v else 'false'
    if isinstance(v, str): return json.dumps(v)
    if isinstance(v, list): return '[' + ', '.join(val(x) for x in v) + ']'
    raise TypeError(v)
os.makedirs(os.path.join(out, 'src'), exist_ok=True)
with open(os.path.join(out, 'Cargo.toml'), 'w') as f:
    f.write('[package]\nname = "trybuild-tree"\nversion = "0.0.0"\nedition = "2024"\npublish = false\n\n[dependencies]\n')
    for n, s in deps.items():
        f.write(f'{n} = {{ ' + ', '.join(f'{k} = {val(v)}' for k, v in s.items()) + ' }\n')
    f.write('\n[workspace]\n')
open(os.path.join(out, 'src', 'main.rs'), 'w').write('fn main() {}\n')
