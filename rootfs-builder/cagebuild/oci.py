"""Write an OCI image layout: oci-layout, index.json and blobs/sha256/ (manifests, configs,
layers). JSON is written with sorted keys and no whitespace so that equal images give equal
digests; index.json keeps one manifest per reference (org.opencontainers.image.ref.name)."""
import hashlib
import json
import os
import shutil
import time

MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json'
CONFIG_TYPE = 'application/vnd.oci.image.config.v1+json'
LAYER_TYPE = 'application/vnd.oci.image.layer.v1.tar+gzip'
REF_NAME = 'org.opencontainers.image.ref.name'


def canonical(value):
    return json.dumps(value, sort_keys=True, separators=(',', ':')).encode()


def _write_atomic(path, data):
    temporary = path + '.tmp'
    with open(temporary, 'wb') as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)


def write_blob(layout, data):
    digest = 'sha256:' + hashlib.sha256(data).hexdigest()
    path = os.path.join(layout, 'blobs', 'sha256', digest.split(':', 1)[1])
    if not os.path.exists(path):
        _write_atomic(path, data)
    return {'digest': digest, 'size': len(data)}


def copy_layer(layout, blob_path, digest):
    target = os.path.join(layout, 'blobs', 'sha256', digest.split(':', 1)[1])
    if os.path.exists(target):
        return
    try:
        os.link(blob_path, target)
    except OSError:
        shutil.copyfile(blob_path, target + '.tmp')
        os.replace(target + '.tmp', target)


def image_config(settings, diff_ids, epoch, history):
    """settings: Env (list), WorkingDir, Entrypoint, Cmd, User (empty ones left out)."""
    config = {key: value for key, value in settings.items() if value}
    created = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(epoch))
    return {
        'architecture': 'amd64',
        'os': 'linux',
        'created': created,
        'config': config,
        'rootfs': {'type': 'layers', 'diff_ids': diff_ids},
        'history': [{'created': created, 'created_by': line} for line in history],
    }


def write_image(layout, config, layers):
    """Config and manifest blobs for one image; returns the manifest descriptor (no ref yet).
    layers: dicts with digest, size (the layer blobs are already in the layout)."""
    config_descriptor = write_blob(layout, canonical(config))
    manifest = {
        'schemaVersion': 2,
        'mediaType': MANIFEST_TYPE,
        'config': {'mediaType': CONFIG_TYPE, **config_descriptor},
        'layers': [{'mediaType': LAYER_TYPE, 'digest': layer['digest'], 'size': layer['size']} for layer in layers],
    }
    return {'mediaType': MANIFEST_TYPE, **write_blob(layout, canonical(manifest))}


def init(layout):
    os.makedirs(os.path.join(layout, 'blobs', 'sha256'), exist_ok=True)
    _write_atomic(os.path.join(layout, 'oci-layout'), canonical({'imageLayoutVersion': '1.0.0'}))


def read_index(layout):
    try:
        with open(os.path.join(layout, 'index.json'), encoding='utf-8') as file:
            return json.load(file)
    except FileNotFoundError:
        return {'schemaVersion': 2, 'manifests': []}


def tag(layout, descriptor, reference):
    """Point REFERENCE at the manifest in index.json, replacing an older entry of that name."""
    index = read_index(layout)
    kept = [entry for entry in index.get('manifests', [])
            if entry.get('annotations', {}).get(REF_NAME) != reference]
    kept.append({**descriptor, 'annotations': {REF_NAME: reference}})
    kept.sort(key=lambda entry: entry['annotations'][REF_NAME] if 'annotations' in entry else '')
    index = {'schemaVersion': 2, 'mediaType': 'application/vnd.oci.image.index.v1+json', 'manifests': kept}
    _write_atomic(os.path.join(layout, 'index.json'), canonical(index))
