"""The layer cache: layer blobs by digest and, per recipe key, the layer it built.

$XDG_CACHE_HOME/cage/build (root: /var/cache/cage/build): blobs/sha256/HEX, layers/KEY.json,
tmp/ (scratch of running builds), logs/NAME.log; one flock serialises builds."""
import fcntl
import json
import os
import shutil
import subprocess

from . import userns


def default_dir():
    if os.getuid() == 0:
        return '/var/cache/cage/build'
    base = os.environ.get('XDG_CACHE_HOME', '')
    if not base.startswith('/'):
        base = os.path.join(os.path.expanduser('~'), '.cache')
    return os.path.join(base, 'cage', 'build')


class Cache:
    def __init__(self, root):
        self.root = root
        for sub in ('blobs/sha256', 'layers', 'tmp', 'logs'):
            os.makedirs(os.path.join(root, sub), mode=0o700, exist_ok=True)
        self.lock_file = open(os.path.join(root, 'lock'), 'w')
        fcntl.flock(self.lock_file, fcntl.LOCK_EX)
        self.remove_leftovers()

    def remove_leftovers(self):
        """Scratch directories of builds that were killed: with the lock held, no build is
        running. A rootless build's scratch holds files of subordinate ids, which only its
        user namespace may remove."""
        tmp = os.path.join(self.root, 'tmp')
        for name in os.listdir(tmp):
            path = os.path.join(tmp, name)
            shutil.rmtree(path, ignore_errors=True)
            if os.path.lexists(path):
                subprocess.run(userns.wrap(['rm', '-rf', '--one-file-system', path]), check=False,
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def blob_path(self, digest):
        return os.path.join(self.root, 'blobs', 'sha256', digest.split(':', 1)[1])

    def lookup(self, key):
        """The cached layer of a recipe key, when its blob is still there."""
        try:
            with open(os.path.join(self.root, 'layers', key + '.json'), encoding='utf-8') as file:
                layer = json.load(file)
        except (OSError, ValueError):
            return None
        return layer if os.path.isfile(self.blob_path(layer['digest'])) else None

    def record(self, key, layer):
        path = os.path.join(self.root, 'layers', key + '.json')
        with open(path + '.tmp', 'w', encoding='utf-8') as file:
            json.dump(layer, file, sort_keys=True)
        os.replace(path + '.tmp', path)

    def log_path(self, name):
        return os.path.join(self.root, 'logs', name + '.log')
