#!/usr/bin/env python3
"""Build test images for cage's integration tests, without any registry or docker.

  mkimage.py layer OUT.tar[.gz|.zst] ENTRY...   a layer from entries (see below)
  mkimage.py dirlayer OUT.tar[.gz|.zst] DIR      a layer holding DIR's tree (like tar -C DIR .)
  mkimage.py oci OUTDIR [--tag T] [--config JSON] [--raw-diff-id N=DIGEST] [--generate N] LAYER...
                                                 an OCI image layout, layers bottom first;
                                                 --generate adds N layers on top, layer K
                                                 holding layers/nK and top (both "K")
  (--index: index.json points to an image index with a linux/amd64 and a linux/arm64
   entry, the same layers, Env ARCH=amd64 or ARCH=arm64)
  mkimage.py docker OUT.tar [--tag REPO:T] [--config JSON] LAYER...
                                                 a docker-archive tarball (docker save)

ENTRY: f:NAME=TEXT (file), x:NAME=TEXT (executable), d:NAME (dir), l:NAME=TARGET (symlink),
h:NAME=TARGET (hard link), z:NAME=SIZE (a file of SIZE zero bytes), o:DIR (opaque marker
DIR/.wh..wh..opq), w:DIR/NAME (whiteout DIR/.wh.NAME), c:NAME=MAJOR,MINOR (character
device), u:NAME=UID (a file owned by UID:UID, mode 4750), a:NAME=VALUE (a file with the
extended attribute user.cage=VALUE). Names are written exactly as given,
so hostile ones ("../x", "/abs") can be made.
"""
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def compress(path, raw):
    if path.endswith(".gz"):
        return gzip.compress(raw, mtime=0)
    if path.endswith(".zst"):
        return subprocess.run(["zstd", "-q", "-c"], input=raw, check=True, stdout=subprocess.PIPE).stdout
    return raw


def decompress(data):
    if data[:2] == b"\x1f\x8b":
        return gzip.decompress(data)
    if data[:4] == b"\x28\xb5\x2f\xfd":
        return subprocess.run(["zstd", "-q", "-d", "-c"], input=data, check=True, stdout=subprocess.PIPE).stdout
    return data


class Zeros(io.RawIOBase):
    def __init__(self, size):
        self.left = size

    def readable(self):
        return True

    def readinto(self, buffer):
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n


def add(tar, kind, name, value):
    info = tarfile.TarInfo(name)
    info.mtime = 1700000000
    info.uid = info.gid = 0
    data = None
    if kind in "fx":
        data = value.encode()
        info.size = len(data)
        info.mode = 0o755 if kind == "x" else 0o644
        tar.addfile(info, io.BytesIO(data))
        return
    if kind == "u":
        info.size, info.mode, info.uid, info.gid = 0, 0o4750, int(value), int(value)
        tar.addfile(info, io.BytesIO(b""))
        return
    if kind == "a":
        info.size, info.mode = 0, 0o644
        info.pax_headers = {"SCHILY.xattr.user.cage": value}
        tar.addfile(info, io.BytesIO(b""))
        return
    if kind == "c":
        info.type, info.mode = tarfile.CHRTYPE, 0o666
        info.devmajor, info.devminor = (int(n) for n in value.split(","))
        tar.addfile(info)
        return
    if kind == "z":
        info.size = int(value)
        info.mode = 0o644
        tar.addfile(info, io.BufferedReader(Zeros(info.size)))
        return
    if kind == "d":
        info.type, info.mode = tarfile.DIRTYPE, 0o755
    elif kind == "l":
        info.type, info.linkname = tarfile.SYMTYPE, value
    elif kind == "h":
        info.type, info.linkname = tarfile.LNKTYPE, value
    elif kind == "o":
        info.name, info.mode = name.rstrip("/") + "/.wh..wh..opq", 0o644
    elif kind == "w":
        head, _, tail = name.rpartition("/")
        info.name, info.mode = (head + "/" if head else "") + ".wh." + tail, 0o644
    else:
        sys.exit("mkimage: unknown entry kind " + kind)
    tar.addfile(info)


def write_layer(path, raw):
    with open(path, "wb") as out:
        out.write(compress(path, raw))


def cmd_layer(out, entries):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            kind, _, rest = entry.partition(":")
            name, _, value = rest.partition("=")
            add(tar, kind, name, value)
    write_layer(out, buffer.getvalue())


def cmd_dirlayer(out, directory):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.add(directory, arcname=".")
    write_layer(out, buffer.getvalue())


def options(args):
    result = {"tag": None, "config": {}, "diff": {}}
    layers = []
    i = 0
    while i < len(args):
        if args[i] == "--tag":
            result["tag"] = args[i + 1]
            i += 2
        elif args[i] == "--config":
            result["config"] = json.loads(args[i + 1])
            i += 2
        elif args[i] == "--index":
            result["index"] = True
            i += 1
        elif args[i] == "--generate":
            result["generate"] = int(args[i + 1])
            i += 2
        elif args[i] == "--raw-diff-id":
            n, _, digest = args[i + 1].partition("=")
            result["diff"][int(n)] = digest
            i += 2
        else:
            layers.append(args[i])
            i += 1
    return result, layers


def media_type(data):
    if data[:2] == b"\x1f\x8b":
        return "application/vnd.oci.image.layer.v1.tar+gzip"
    if data[:4] == b"\x28\xb5\x2f\xfd":
        return "application/vnd.oci.image.layer.v1.tar+zstd"
    return "application/vnd.oci.image.layer.v1.tar"


def image_config(opts, diff_ids):
    config = {"Env": ["PATH=/usr/local/bin:/usr/bin:/bin"]}
    config.update(opts["config"])
    return json.dumps({"architecture": "amd64", "os": "linux", "config": config,
                       "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()


def cmd_oci(out, args):
    opts, layers = options(args)
    os.makedirs(out + "/blobs/sha256", exist_ok=True)

    def blob(data):
        digest = sha256(data)
        with open(out + "/blobs/sha256/" + digest[7:], "wb") as f:
            f.write(data)
        return {"digest": digest, "size": len(data)}

    descriptors, diff_ids = [], []
    contents = [open(path, "rb").read() for path in layers]
    for k in range(1, opts.get("generate", 0) + 1):
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
            add(tar, "f", "layers/n%d" % k, str(k))
            add(tar, "f", "top", str(k))
        contents.append(buffer.getvalue())
    for n, data in enumerate(contents):
        descriptors.append(dict(mediaType=media_type(data), **blob(data)))
        diff_ids.append(opts["diff"].get(n, sha256(decompress(data))))
    def image_manifest(options):
        config = dict(mediaType="application/vnd.oci.image.config.v1+json", **blob(image_config(options, diff_ids)))
        manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                               "config": config, "layers": descriptors}).encode()
        return dict(mediaType="application/vnd.oci.image.manifest.v1+json", **blob(manifest))

    if opts.get("index"):
        entries = []
        for arch in ("arm64", "amd64"):
            variant = dict(opts, config=dict(opts["config"], Env=["PATH=/usr/bin:/bin", "ARCH=" + arch]))
            entries.append(dict(image_manifest(variant), platform={"os": "linux", "architecture": arch}))
        index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                            "manifests": entries}).encode()
        entry = dict(mediaType="application/vnd.oci.image.index.v1+json", **blob(index))
    else:
        entry = image_manifest(opts)
    if opts["tag"]:
        entry["annotations"] = {"org.opencontainers.image.ref.name": opts["tag"]}
    with open(out + "/index.json", "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [entry]}, f)
    with open(out + "/oci-layout", "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)


def cmd_docker(out, args):
    opts, layers = options(args)
    with tarfile.open(out, "w") as tar:
        def put(name, data):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        names, diff_ids = [], []
        for n, path in enumerate(layers):
            raw = decompress(open(path, "rb").read())
            diff_ids.append(sha256(raw))
            names.append("layer%d/layer.tar" % n)
            put(names[-1], raw)
        config = image_config(opts, diff_ids)
        put(sha256(config)[7:] + ".json", config)
        manifest = [{"Config": sha256(config)[7:] + ".json", "RepoTags": [opts["tag"]] if opts["tag"] else None,
                     "Layers": names}]
        put("manifest.json", json.dumps(manifest).encode())


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    command, out, rest = argv[1], argv[2], argv[3:]
    {"layer": lambda: cmd_layer(out, rest), "dirlayer": lambda: cmd_dirlayer(out, rest[0]),
     "oci": lambda: cmd_oci(out, rest), "docker": lambda: cmd_docker(out, rest)}[command]()


if __name__ == "__main__":
    main(sys.argv)
