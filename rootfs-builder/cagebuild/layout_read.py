"""Read an image back from an OCI layout (for `cage-build unpack`): the manifest a reference
names, and its layer blobs, each verified against its digest before use."""
import hashlib
import json
import os

from . import BuildError
from .oci import REF_NAME


def _blob(layout, digest):
    algorithm, _, hexdigest = digest.partition(':')
    if algorithm != 'sha256' or len(hexdigest) != 64 or not all(c in '0123456789abcdef' for c in hexdigest):
        raise BuildError(f'unsupported digest: {digest} [{layout}]')
    return os.path.join(layout, 'blobs', 'sha256', hexdigest)


def verified_blob(layout, digest):
    path = _blob(layout, digest)
    hasher = hashlib.sha256()
    try:
        with open(path, 'rb') as file:
            for chunk in iter(lambda: file.read(1 << 20), b''):
                hasher.update(chunk)
    except OSError as error:
        raise BuildError(f'cannot read a blob: {error.strerror} [{path}]') from None
    if 'sha256:' + hasher.hexdigest() != digest:
        raise BuildError(f'blob does not match its digest [{path}]')
    return path


def _json(path):
    try:
        with open(path, encoding='utf-8') as file:
            return json.load(file)
    except (OSError, ValueError) as error:
        raise BuildError(f'cannot read {os.path.basename(path)}: {error} [{path}]') from None


def layers_of(layout, reference):
    """The verified layer blob paths of the image REFERENCE names (NAME or NAME:TAG)."""
    index = _json(os.path.join(layout, 'index.json'))
    wanted = {reference, reference + ':latest'}
    entries = [entry for entry in index.get('manifests', [])
               if entry.get('annotations', {}).get(REF_NAME) in wanted]
    if not entries:
        raise BuildError(f'no image named {reference} in the layout [{layout}]')
    manifest = _json(verified_blob(layout, entries[0]['digest']))
    return [verified_blob(layout, item['digest']) for item in manifest.get('layers', [])]
