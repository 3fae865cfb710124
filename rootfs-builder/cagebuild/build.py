"""Build a recipe and its parents, one layer each, and write them as an OCI image layout."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from . import BuildError, cache, idshift, layer, oci, recipe, steps, unpack, userns

# Part of every cache key: a change to how layers are made invalidates cached layers.
BUILDER_VERSION = 'cage-build 1'
# Used when SOURCE_DATE_EPOCH is not set (2026-01-01T00:00:00Z): fixed, so builds repeat.
DEFAULT_EPOCH = 1767225600
DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
# Mount points of the build container, not part of what a recipe installs.
EXCLUDED = (steps.BUILD_DIR, 'etc/resolv.conf')


def progress(message):
    print(f'cage build: {message}', file=sys.stderr, flush=True)


def epoch():
    text = os.environ.get('SOURCE_DATE_EPOCH', '')
    if not text:
        return DEFAULT_EPOCH
    if not text.isdigit():
        raise BuildError(f'invalid SOURCE_DATE_EPOCH: not a number of seconds [{text}]')
    return int(text)


def make_child_layer(job):
    """The layer of a child recipe (run where userns.wrap puts it): the parent layers unpacked,
    the recipe's steps run over them, their changes packed. Removes what it unpacked, which
    only this namespace may be allowed to remove."""
    scratch, identity = job['scratch'], idshift.IdShift.identity()
    try:
        unpack.unpack(job['parents'], os.path.join(scratch, 'lower'), identity, identity)
        steps.run_step(job['recipe'], scratch, job['context'], job['log'])
        return layer.pack_directory(os.path.join(scratch, 'upper'), job['out'], job['epoch'], exclude=EXCLUDED)
    finally:
        for name in ('lower', 'upper', 'work', 'merged'):
            shutil.rmtree(os.path.join(scratch, name), ignore_errors=True)


def run_child_layer(job):
    """make_child_layer in the build namespace, through `cage-build child-layer`."""
    job_file = os.path.join(job['scratch'], 'job.json')
    with open(job_file, 'w', encoding='utf-8') as file:
        json.dump(job, file)
    program = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'cage-build')
    result = subprocess.run(userns.wrap([sys.executable, program, 'child-layer', job_file]),
                            stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        reason = lines[-1].removeprefix('cage: ') if lines else f'exit status {result.returncode}'
        raise BuildError(reason)
    return json.loads(result.stdout)


class Builder:
    def __init__(self, cache_dir, no_cache=False):
        userns.check()
        self.cache = cache.Cache(cache_dir)
        self.no_cache = no_cache
        self.epoch = epoch()

    def build_layer(self, item, parents, scratch):
        log = self.cache.log_path(item['name'])
        open(log, 'w').close()
        out = os.path.join(scratch, 'layer.tar.gz')
        if not parents:
            rootfs_tar = os.path.join(scratch, 'rootfs.tar')
            steps.mmdebstrap(item, rootfs_tar, log, self.epoch)
            return layer.pack_tar(rootfs_tar, out, self.epoch), out
        context = os.path.join(scratch, 'context')
        os.makedirs(context)
        archives = steps.fetch_archives(item, context, log)
        npmrc = steps.copy_npm_config(context)
        with open(os.path.join(context, 'install.sh'), 'w', encoding='utf-8') as file:
            file.write(steps.install_script(item, archives, npmrc))
        job = {'recipe': item, 'parents': [self.cache.blob_path(parent['digest']) for parent in parents],
               'scratch': scratch, 'context': context, 'log': log, 'out': out, 'epoch': self.epoch}
        return run_child_layer(job), out

    def layer_for(self, item, parents, key):
        cached = None if self.no_cache else self.cache.lookup(key)
        if cached:
            progress(f"{item['name']}: cached {cached['digest'][:19]} ({cached['size'] / 1e6:.1f} MB)")
            return cached
        progress(f"{item['name']}: building" + (' (mmdebstrap)' if not parents else f" on {parents[-1]['name']}"))
        started = time.monotonic()
        scratch = tempfile.mkdtemp(prefix=item['name'] + '.', dir=os.path.join(self.cache.root, 'tmp'))
        try:
            facts, out = self.build_layer(item, parents, scratch)
            layer.store_blob(out, os.path.dirname(os.path.dirname(self.cache.blob_path(facts['digest']))),
                             facts['digest'])
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        facts['name'] = item['name']
        self.cache.record(key, facts)
        progress(f"{item['name']}: built {facts['digest'][:19]} ({facts['size'] / 1e6:.1f} MB) "
                 f"in {time.monotonic() - started:.0f}s")
        return facts

    def build_chain(self, recipes):
        """The layers of every recipe in the chain, root first."""
        layers = []
        for item in recipes:
            parent_digest = layers[-1]['digest'] if layers else None
            key = recipe.key(item, parent_digest, f'{BUILDER_VERSION} {self.epoch}')
            layers.append(dict(self.layer_for(item, layers, key), name=item['name']))
        return layers


def settings(recipes):
    """The image config (Env, WorkingDir, Entrypoint, Cmd, User) of the chain's last recipe."""
    env, user, workdir, entrypoint, cmd = {'PATH': DEFAULT_PATH}, None, None, [], []
    for item in recipes:
        env.update(item['env'])
        user = item['user'] or user
        workdir = item['workdir'] or workdir
        if item['entrypoint']:
            entrypoint, cmd = item['entrypoint'], []
        cmd = item['cmd'] or cmd
    return {'Env': [f'{key}={value}' for key, value in sorted(env.items())], 'User': user or '',
            'WorkingDir': workdir or '', 'Entrypoint': entrypoint, 'Cmd': cmd}


def history(recipes):
    return [f"cage build {item['name']} ({os.path.basename(item['path'])})" for item in recipes]


def write_layout(output, recipes, layers, blob_path, build_epoch, tag, name_prefix=''):
    """Every image of the chain into the layout at output (created whole, or added to)."""
    fresh = not os.path.exists(os.path.join(output, 'oci-layout'))
    target = output + f'.tmp-{os.getpid()}' if fresh else output
    if fresh and os.path.exists(output) and os.listdir(output):
        raise BuildError(f'the output is not an OCI image layout and not empty [{output}]')
    oci.init(target)
    for facts in layers:
        oci.copy_layer(target, blob_path(facts['digest']), facts['digest'])
    for count in range(1, len(recipes) + 1):
        config = oci.image_config(settings(recipes[:count]), [facts['diff_id'] for facts in layers[:count]],
                                  build_epoch, history(recipes[:count]))
        descriptor = oci.write_image(target, config, layers[:count])
        name = recipes[count - 1]['name']
        oci.tag(target, descriptor, tag if count == len(recipes) and tag else f'{name_prefix}{name}:latest')
    if fresh:
        if os.path.isdir(output):
            os.rmdir(output)
        os.rename(target, output)


def build(reference, recipe_dir, output, tag=None, cache_dir=None, no_cache=False, name_prefix=''):
    recipes = recipe.chain(reference, recipe_dir)
    builder = Builder(cache_dir or cache.default_dir(), no_cache)
    layers = builder.build_chain(recipes)
    write_layout(output, recipes, layers, builder.cache.blob_path, builder.epoch, tag, name_prefix)
    reference = tag or name_prefix + recipes[-1]['name'] + ':latest'
    progress(f'wrote {reference} to {output}')
    return reference
