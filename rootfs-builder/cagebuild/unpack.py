"""Apply OCI layers (gzip or plain tar) to a directory, honouring whiteouts.

Used for the parent root filesystem of a build and by the tests to run an image with
--rootfs. Names that would leave the directory are refused; owners are shifted to the ids
that cage's user namespace shows as the layer's ids (see idshift).
"""
import os
import shutil
import stat
import tarfile

from . import BuildError

WHITEOUT = '.wh.'
OPAQUE = '.wh..wh..opq'


def _safe_name(name, layer):
    parts = [part for part in name.split('/') if part not in ('', '.')]
    if not parts or '..' in parts:
        raise BuildError(f'layer entry escapes the root: {name} [{layer}]')
    return '/'.join(parts)


def _inside(root, relative, layer):
    """The host path of RELATIVE, after checking that no directory on the way is a symlink
    (missing ones are created)."""
    path = root
    for part in relative.split('/')[:-1]:
        path = os.path.join(path, part)
        if os.path.islink(path) or (os.path.lexists(path) and not os.path.isdir(path)):
            raise BuildError(f'layer entry goes through a non-directory: {relative} [{layer}]')
        if not os.path.lexists(path):
            os.mkdir(path, 0o755)
    return os.path.join(root, relative)


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def _apply_whiteouts(root, tar, layer):
    for member in tar:
        name = _safe_name(member.name, layer)
        parent, leaf = os.path.split(name)
        if leaf == OPAQUE:
            directory = _inside(root, name, layer)
            directory = os.path.dirname(directory)
            if os.path.isdir(directory) and not os.path.islink(directory):
                for entry in os.listdir(directory):
                    _remove(os.path.join(directory, entry))
        elif leaf.startswith(WHITEOUT):
            _remove(_inside(root, os.path.join(parent, leaf[len(WHITEOUT):]), layer))


def _extract(root, tar, member, name, uid_shift, gid_shift, layer):
    path = _inside(root, name, layer)
    if member.isdir():
        if not os.path.isdir(path) or os.path.islink(path):
            _remove(path)
            os.mkdir(path, 0o700)
    else:
        _remove(path)
        if member.islnk():
            os.link(_inside(root, _safe_name(member.linkname, layer), layer), path)
            return
        if member.issym():
            os.symlink(member.linkname, path)
        elif member.isreg():
            with tar.extractfile(member) as source, open(path, 'xb') as target:
                shutil.copyfileobj(source, target, 1 << 20)
        elif member.ischr() or member.isblk():
            kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
            try:
                os.mknod(path, 0o600 | kind, os.makedev(member.devmajor, member.devminor))
            except PermissionError:
                return  # devices need root; the runtime provides /dev anyway
        elif member.isfifo():
            os.mkfifo(path, 0o600)
        else:
            return
    uid, gid = uid_shift.to_host(member.uid), gid_shift.to_host(member.gid)
    os.chown(path, uid if uid is not None else 65534, gid if gid is not None else 65534, follow_symlinks=False)
    for key, value in member.pax_headers.items():
        if key.startswith('SCHILY.xattr.security.capability'):
            try:
                os.setxattr(path, key[len('SCHILY.xattr.'):], value.encode('latin-1'), follow_symlinks=False)
            except OSError:
                pass
    if not member.issym():
        os.chmod(path, member.mode)
        os.utime(path, (member.mtime, member.mtime))


def apply_layer(root, layer, uid_shift, gid_shift):
    """Extract one layer over root: its whiteouts first, then its entries in order."""
    with tarfile.open(layer, mode='r:*') as tar:
        _apply_whiteouts(root, tar, layer)
    directories = []
    with tarfile.open(layer, mode='r:*') as tar:
        for member in tar:
            name = _safe_name(member.name, layer)
            if os.path.basename(name).startswith(WHITEOUT):
                continue
            _extract(root, tar, member, name, uid_shift, gid_shift, layer)
            if member.isdir():
                directories.append((name, member))
    # Directory times last: extracting their entries changed them.
    for name, member in reversed(directories):
        os.utime(os.path.join(root, name), (member.mtime, member.mtime))


def unpack(layers, root, uid_shift, gid_shift):
    os.makedirs(root, exist_ok=True)
    for layer in layers:
        apply_layer(root, layer, uid_shift, gid_shift)
