"""The install steps of one recipe: mmdebstrap for a base (no parent), and for a child a
script run in a chroot over an overlay of the parent layers (step.sh), whose upper directory
is exactly the layer's diff."""
import glob
import os
import re
import shlex
import shutil
import subprocess

from . import BuildError

# Files that record when or where a build ran, not what it installed.
CLEANUP = ['/var/lib/apt/lists/*', '/var/cache/apt/*.bin', '/var/cache/apt/archives/*.deb',
           '/var/log/apt', '/var/log/dpkg.log', '/var/log/alternatives.log', '/var/cache/ldconfig/aux-cache',
           '/var/cache/debconf/*-old', '/var/lib/dpkg/*-old', '/root/.npm', '/root/.cache', '/root/.config',
           '/tmp/*', '/var/tmp/*']
# mmdebstrap empties the apt lists and caches and /tmp itself, after the customize hooks, and
# needs its apt configuration in the chroot's /tmp to do so: removed earlier, its final
# `apt-get update` ran with the host's directories, emptying the host's own package lists.
MMDEBSTRAP_CLEANS = {'/var/lib/apt/lists/*', '/var/cache/apt/*.bin', '/var/cache/apt/archives/*.deb', '/tmp/*'}
# The host's, copied by mmdebstrap (a child step mounts the host's resolv.conf over it).
BASE_CLEANUP = [path for path in CLEANUP if path not in MMDEBSTRAP_CLEANS] + ['/etc/resolv.conf', '/etc/hostname']
BUILD_DIR = 'cage-build'  # the build context inside the container (left out of the layer)


def host_apt_sources():
    """The host's own sources files: no mirror is written into the project."""
    files = ['/etc/apt/sources.list'] + sorted(glob.glob('/etc/apt/sources.list.d/*.list')) + \
        sorted(glob.glob('/etc/apt/sources.list.d/*.sources'))
    return [path for path in files if os.path.isfile(path) and os.path.getsize(path) > 0]


def failure_reason(log_path):
    """The most telling line of a failed step's log."""
    try:
        with open(log_path, encoding='utf-8', errors='replace') as file:
            lines = [line.strip() for line in file if line.strip()]
    except OSError:
        return 'no log'
    patterns = [r'^E: (Unable to locate|Package .* has no installation candidate|.*not found)',
                r'^npm (error|ERR!) 404 ', r'^npm (error|ERR!) ', r'^E: ', r'^(cage|tar|sh|chroot|mount): ',
                r'^[A-Za-z]*Error: ']
    for pattern in patterns:
        for line in lines:
            if re.search(pattern, line):
                return re.sub(r'^(E: |npm (error|ERR!) )', '', line)
    return lines[-1] if lines else 'no output'


def run_logged(argv, log_path, what, env=None):
    with open(log_path, 'ab') as log:
        log.write(('$ ' + shlex.join(argv) + '\n').encode())
        log.flush()
        result = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env)
    if result.returncode != 0:
        raise BuildError(f'{what}: {failure_reason(log_path)} [{log_path}]')


def mmdebstrap(recipe, out_tar, log_path, epoch):
    if not shutil.which('mmdebstrap'):
        raise BuildError('building a base needs mmdebstrap: not installed (apt-get install mmdebstrap)')
    mode = 'root' if os.getuid() == 0 else 'unshare'
    cleanup = ' '.join('"$1"' + shlex.quote(path) if '*' not in path else '"$1"' + path for path in BASE_CLEANUP)
    argv = ['mmdebstrap', '--mode=' + mode, '--variant=minbase', '--format=tar',
            '--include=' + ','.join(recipe['packages']),
            '--customize-hook=chroot "$1" useradd --create-home --uid 1000 --user-group --shell /bin/bash agent',
            '--customize-hook=rm -rf ' + cleanup,
            'bookworm', out_tar] + host_apt_sources()
    env = dict(os.environ, SOURCE_DATE_EPOCH=str(epoch))
    run_logged(argv, log_path, f"building {recipe['name']} failed", env=env)


def fetch_archives(recipe, context, log_path):
    """npm pack each archive with the host's npm and its configuration; returns their names."""
    names = []
    for number, archive in enumerate(recipe['archives']):
        target = os.path.join(context, f'archive-{number}')
        os.makedirs(target)
        run_logged(['npm', 'pack', '--silent', '--pack-destination', target, archive['npm']], log_path,
                   f"fetching {archive['npm']} for {recipe['name']} failed")
        packed = os.listdir(target)
        if len(packed) != 1:
            raise BuildError(f"fetching {archive['npm']} failed: npm pack wrote {len(packed)} files [{target}]")
        names.append(f'archive-{number}/{packed[0]}')
    return names


def _npm_config(key):
    result = subprocess.run(['npm', 'config', 'get', key], capture_output=True, text=True)
    value = result.stdout.strip() if result.returncode == 0 else ''
    return '' if value in ('', 'null', 'undefined') else value


def copy_npm_config(context):
    """The host's npm configuration for npm inside the build: the user's npmrc (scoped
    registries, tokens), the effective registry, proxies and TLS settings, and the CA file
    (a TLS-inspecting proxy's CA is in the host's bundle, not in the image's)."""
    target = os.path.join(context, 'npmrc')
    source = _npm_config('userconfig')
    if source and os.path.isfile(source):
        shutil.copyfile(source, target)
    lines = [f'{key}={value}' for key in ('registry', 'proxy', 'https-proxy', 'noproxy', 'strict-ssl')
             if (value := _npm_config(key))]
    cafile = _npm_config('cafile')
    if cafile and os.path.isfile(cafile):
        shutil.copyfile(cafile, os.path.join(context, 'ca.crt'))
        lines.append(f'cafile=/{BUILD_DIR}/ca.crt')
    with open(target, 'a', encoding='utf-8') as file:
        file.write('\n' + '\n'.join(lines) + '\n')
    return '/' + BUILD_DIR + '/npmrc'


def build_env(context):
    """Variables of the build step (install scripts that download trust the host's CAs)."""
    if os.path.isfile(os.path.join(context, 'ca.crt')):
        return {'NODE_EXTRA_CA_CERTS': f'/{BUILD_DIR}/ca.crt'}
    return {}


def install_script(recipe, archive_names, npmrc):
    lines = ['set -eu', 'export DEBIAN_FRONTEND=noninteractive']
    if recipe['packages']:
        lines.append('apt-get update -q')
        lines.append('apt-get install -y -q --no-install-recommends ' + shlex.join(recipe['packages']))
        lines.append('apt-get clean')
    for archive, name in zip(recipe['archives'], archive_names):
        prefix = shlex.quote(archive['prefix'])
        lines.append(f'mkdir -p {prefix}')
        excludes = ''.join(' ' + shlex.quote('--exclude=package/' + path) for path in archive['exclude'])
        lines.append(f'tar -xzf /{BUILD_DIR}/{shlex.quote(name)} --strip-components=1 --no-same-owner'
                     f'{excludes} -C {prefix}')
    if recipe['npm']:
        lines.append(f'npm install -g --no-fund --no-audit --userconfig {npmrc} ' + shlex.join(recipe['npm']))
    lines.extend(recipe['run'])
    lines.append('rm -rf ' + ' '.join(path if '*' in path else shlex.quote(path) for path in CLEANUP))
    return '\n'.join(lines) + '\n'


def run_step(recipe, scratch, context, log_path):
    """CONTEXT/install.sh over the parent root (scratch/lower); the changes land in scratch/upper."""
    dirs = [os.path.join(scratch, name) for name in ('lower', 'upper', 'work', 'merged')]
    for directory in dirs[1:]:
        os.makedirs(directory, exist_ok=True)
    env = [f'{key}={value}' for key, value in sorted({**recipe['env'], **build_env(context)}.items())]
    argv = ['unshare', '--mount', '--pid', '--fork', '--uts', '--ipc', '--propagation', 'private',
            '/bin/sh', os.path.join(os.path.dirname(os.path.abspath(__file__)), 'step.sh'), *dirs, context, *env]
    run_logged(argv, log_path, f"building {recipe['name']} failed")
