"""Deterministic layer tarballs from an overlay upper directory or from a tar archive.

Entries are sorted by path, mtimes clamped to SOURCE_DATE_EPOCH, owners numeric (container
ids, no names), no atime/ctime; overlay whiteouts (0:0 character devices) become '.wh.NAME'
entries and opaque directories (trusted./user.overlay.opaque) a '.wh..wh..opq' entry. The tar
is hashed (diff_id) and gzipped with a zero timestamp (digest), so equal trees give equal
digests.
"""
import copy
import gzip
import hashlib
import os
import shutil
import stat
import tarfile

from . import BuildError

OPAQUE_XATTRS = ('trusted.overlay.opaque', 'user.overlay.opaque')
KEPT_XATTR_PREFIXES = ('security.capability',)


class HashingWriter:
    """A file object that hashes what passes through it."""

    def __init__(self, file):
        self.file, self.hash, self.size = file, hashlib.sha256(), 0

    def write(self, data):
        self.hash.update(data)
        self.size += len(data)
        return self.file.write(data)

    def flush(self):
        self.file.flush()


class LayerWriter:
    """Writes a normalised tar, gzipped, into PATH; .finish() returns the layer's facts."""

    def __init__(self, path, epoch):
        self.path, self.epoch = path, epoch
        self.raw = open(path, 'wb')
        self.compressed = HashingWriter(self.raw)
        self.gzip = gzip.GzipFile(filename='', mode='wb', fileobj=self.compressed, mtime=0, compresslevel=6)
        self.uncompressed = HashingWriter(self.gzip)
        self.tar = tarfile.open(fileobj=self.uncompressed, mode='w|', format=tarfile.PAX_FORMAT)

    def normalise(self, info):
        info.mtime = min(int(info.mtime), self.epoch)
        info.uname = info.gname = ''
        info.pax_headers = {key: value for key, value in info.pax_headers.items()
                            if key.startswith('SCHILY.xattr.') and key[13:].startswith(KEPT_XATTR_PREFIXES)}
        return info

    def add(self, info, data=None):
        self.tar.addfile(self.normalise(info), data)

    def whiteout(self, path, mtime):
        info = tarfile.TarInfo(path)
        info.mode, info.mtime = 0o644, mtime
        self.add(info)

    def finish(self):
        self.tar.close()
        self.gzip.close()
        self.raw.close()
        return {'diff_id': 'sha256:' + self.uncompressed.hash.hexdigest(),
                'digest': 'sha256:' + self.compressed.hash.hexdigest(),
                'size': self.compressed.size}


def _xattrs(path):
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    result = {}
    for name in names:
        try:
            result[name] = os.getxattr(path, name, follow_symlinks=False)
        except OSError:
            continue
    return result


def _info_for(full, name, st, links):
    info = tarfile.TarInfo(name)
    info.mode = stat.S_IMODE(st.st_mode)
    info.mtime = int(st.st_mtime)
    info.uid, info.gid = st.st_uid, st.st_gid
    if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
        first = links.setdefault((st.st_dev, st.st_ino), name)
        if first != name:
            info.type, info.linkname = tarfile.LNKTYPE, first
            return info
    if stat.S_ISDIR(st.st_mode):
        info.type = tarfile.DIRTYPE
    elif stat.S_ISLNK(st.st_mode):
        info.type, info.linkname = tarfile.SYMTYPE, os.readlink(full)
    elif stat.S_ISREG(st.st_mode):
        info.size = st.st_size
    elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        info.type = tarfile.CHRTYPE if stat.S_ISCHR(st.st_mode) else tarfile.BLKTYPE
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    elif stat.S_ISFIFO(st.st_mode):
        info.type = tarfile.FIFOTYPE
    else:
        return None  # sockets have no place in a layer
    for xattr, value in _xattrs(full).items():
        if xattr.startswith(KEPT_XATTR_PREFIXES):
            info.pax_headers['SCHILY.xattr.' + xattr] = value.decode('latin-1')
    return info


def _walk(root, relative=''):
    """(full path, layer path, stat) for every entry under root, sorted, parents first."""
    with os.scandir(os.path.join(root, relative) if relative else root) as entries:
        names = sorted(entry.name for entry in entries)
    for name in names:
        path = f'{relative}/{name}' if relative else name
        full = os.path.join(root, path)
        st = os.lstat(full)
        yield full, path, st
        if stat.S_ISDIR(st.st_mode):
            yield from _walk(root, path)


def _is_whiteout(st):
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _is_opaque(full):
    xattrs = _xattrs(full)
    return any(xattrs.get(name) == b'y' for name in OPAQUE_XATTRS)


def pack_directory(root, out, epoch, exclude=()):
    """An overlay upper directory as a layer (owners as they are: the build ran without a user
    namespace); paths in exclude (and below them) are left out."""
    writer = LayerWriter(out, epoch)
    links = {}
    for full, path, st in _walk(root):
        if any(path == skip or path.startswith(skip + '/') for skip in exclude):
            continue
        parent, leaf = os.path.split(path)
        if _is_whiteout(st):
            writer.whiteout(os.path.join(parent, '.wh.' + leaf), min(int(st.st_mtime), epoch))
            continue
        info = _info_for(full, path, st, links)
        if info is None:
            continue
        if info.isreg():
            with open(full, 'rb') as data:
                writer.add(info, data)
        else:
            writer.add(info)
        if info.isdir() and _is_opaque(full):
            writer.whiteout(path + '/.wh..wh..opq', min(int(st.st_mtime), epoch))
    return writer.finish()


def _clean_name(name):
    parts = [part for part in name.split('/') if part not in ('', '.')]
    return '/'.join(parts)


def pack_tar(source, out, epoch, exclude=()):
    """A root filesystem tarball (as mmdebstrap writes it) as a normalised layer."""
    writer = LayerWriter(out, epoch)
    with tarfile.open(source, mode='r:') as tar:
        members = {}
        for member in tar:
            name = _clean_name(member.name)
            if name and not any(name == skip or name.startswith(skip + '/') for skip in exclude):
                member.name = name
                if member.islnk():
                    member.linkname = _clean_name(member.linkname)
                members[name] = member
        # A hard link must follow its target: each group of links is written as a regular
        # file under its first name in sorted order, the others as links to that name.
        groups = {}
        for name, member in members.items():
            if member.islnk():
                if member.linkname not in members:
                    raise BuildError(f'hard link to a missing entry: {name} -> {member.linkname} [{source}]')
                groups.setdefault(member.linkname, []).append(name)
        canonical = {}
        for target, names in groups.items():
            first = min(names + [target])
            for name in names + [target]:
                canonical[name] = (first, target)
        for name in sorted(members):
            first, target = canonical.get(name, (name, name))
            if name == first:  # the regular file (a copy of the group's data) under this name
                info = copy.copy(members[target])
                info.name, info.pax_headers = name, dict(members[target].pax_headers)
                writer.add(info, tar.extractfile(members[target]) if info.isreg() else None)
            else:
                info = copy.copy(members[target])
                info.name, info.type, info.linkname, info.size = name, tarfile.LNKTYPE, first, 0
                info.pax_headers = {}
                writer.add(info)
    return writer.finish()


def store_blob(layer_file, blobs_dir, digest):
    """Moves a finished layer file to blobs_dir/sha256/HEX (idempotent)."""
    target = os.path.join(blobs_dir, 'sha256', digest.split(':', 1)[1])
    os.makedirs(os.path.dirname(target), exist_ok=True)
    if os.path.exists(target):
        os.unlink(layer_file)
    else:
        shutil.move(layer_file, target)
    return target
