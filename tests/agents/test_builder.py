#!/usr/bin/env python3
"""Unit tests of the image builder (rootfs-builder/cagebuild): recipe parsing and chains,
cache keys, deterministic layers with whiteouts, unpacking, id shifts, the OCI layout."""
import gzip
import hashlib
import io
import json
import os
import stat
import sys
import tarfile
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.environ.get('SOURCE_ROOT', os.path.join(os.path.dirname(__file__), '..', '..')),
                                'rootfs-builder'))

from cagebuild import BuildError, build, idshift, layer, layout_read, oci, recipe, unpack  # noqa: E402

RECIPES = os.path.join(os.path.dirname(os.path.abspath(recipe.__file__)), '..', 'recipes')


class RecipeTest(unittest.TestCase):
    def test_every_shipped_recipe_parses_and_chains_to_base(self):
        names = sorted(name[:-5] for name in os.listdir(RECIPES) if name.endswith('.yaml'))
        self.assertEqual(names, ['base', 'claude', 'codex', 'gemini', 'go', 'kilocode', 'node', 'opencode', 'python'])
        for name in names:
            chain = recipe.chain(name, RECIPES)
            self.assertEqual(chain[0]['name'], 'base')
            self.assertEqual(chain[-1]['name'], name)
        self.assertEqual([item['name'] for item in recipe.chain('claude', RECIPES)], ['base', 'node', 'claude'])

    def test_defaults_are_filled_in(self):
        parsed = recipe.parse('name: x\nparent: base\n')
        self.assertEqual(parsed['packages'], [])
        self.assertEqual(parsed['env'], {})
        self.assertIsNone(parsed['user'])
        self.assertEqual(recipe.parse('name: x\nparent: p\nenv: {N: 1}\n')['env'], {'N': '1'})

    def test_bad_recipes_are_refused_with_their_path(self):
        bad = ['', '- a', 'parent: base', 'name: X', 'name: x\nextra: 1', 'name: x\npackages: curl',
               'name: x\npackages: ["bad name"]', 'name: x\nparent: p\nnpm: ["a b"]', 'name: x\nnpm: [a]',
               'name: x\nrun: [ls]', 'name: x\nparent: p\nenv: {"A-B": 1}', 'name: x\nparent: p\nworkdir: rel',
               'name: x\nparent: p\narchives: [{npm: a}]', 'name: x\nparent: p\narchives: [{npm: a, prefix: rel}]',
               'name: x\nparent: p\narchives: [{npm: a, prefix: /a/../b}]', 'name: [', 'name: x\nentrypoint: sh']
        for text in bad:
            with self.subTest(text=text), self.assertRaises(BuildError) as raised:
                recipe.parse(text, '/r/x.yaml')
            self.assertTrue(str(raised.exception).startswith('invalid recipe: '), str(raised.exception))
            self.assertTrue(str(raised.exception).endswith('[/r/x.yaml]'), str(raised.exception))

    def test_missing_parents_and_cycles_are_errors(self):
        with tempfile.TemporaryDirectory() as directory:
            with open(os.path.join(directory, 'a.yaml'), 'w') as file:
                file.write('name: a\nparent: b\n')
            with open(os.path.join(directory, 'b.yaml'), 'w') as file:
                file.write('name: b\nparent: a\n')
            with open(os.path.join(directory, 'c.yaml'), 'w') as file:
                file.write('name: c\nparent: nowhere\n')
            with open(os.path.join(directory, 'd.yaml'), 'w') as file:
                file.write('name: d\nparent: node\n')
            with self.assertRaisesRegex(BuildError, 'cycle'):
                recipe.chain('a', directory)
            with self.assertRaisesRegex(BuildError, 'cannot read the recipe'):
                recipe.chain(os.path.join(directory, 'c.yaml'), RECIPES)
            chain = recipe.chain(os.path.join(directory, 'd.yaml'), RECIPES)
            self.assertEqual([item['name'] for item in chain], ['base', 'node', 'd'])

    def test_cache_keys_follow_content_and_parent(self):
        one = recipe.parse('name: x\nparent: p\npackages: [aa]\n')
        same = recipe.parse('# comment\nparent: p\npackages: [aa]\nname: x\n')
        other = recipe.parse('name: x\nparent: p\npackages: [bb]\n')
        self.assertEqual(recipe.key(one, 'sha256:1', 'v'), recipe.key(same, 'sha256:1', 'v'))
        self.assertNotEqual(recipe.key(one, 'sha256:1', 'v'), recipe.key(other, 'sha256:1', 'v'))
        self.assertNotEqual(recipe.key(one, 'sha256:1', 'v'), recipe.key(one, 'sha256:2', 'v'))
        self.assertNotEqual(recipe.key(one, 'sha256:1', 'v'), recipe.key(one, 'sha256:1', 'w'))
        # What only goes into the image config reuses the layer.
        configured = recipe.parse('name: x\nparent: p\npackages: [aa]\nworkdir: /w\nuser: u\nentrypoint: [e]\n')
        self.assertEqual(recipe.key(one, 'sha256:1', 'v'), recipe.key(configured, 'sha256:1', 'v'))
        with_env = recipe.parse('name: x\nparent: p\npackages: [aa]\nenv: {A: b}\n')
        self.assertNotEqual(recipe.key(one, 'sha256:1', 'v'), recipe.key(with_env, 'sha256:1', 'v'))

    def test_image_settings_inherit_and_override(self):
        chain = recipe.chain('claude', RECIPES)
        settings = build.settings(chain)
        self.assertEqual(settings['Entrypoint'], ['claude'])
        self.assertEqual(settings['User'], 'agent')
        self.assertEqual(settings['WorkingDir'], '/work')
        self.assertIn('LANG=C.UTF-8', settings['Env'])
        self.assertIn('PATH=' + build.DEFAULT_PATH, settings['Env'])
        go = build.settings(recipe.chain('go', RECIPES))
        self.assertEqual([entry for entry in go['Env'] if entry.startswith('PATH=')][0].count('/usr/lib/go/bin'), 1)


class UserNamespaceTest(unittest.TestCase):
    def test_root_builds_in_place_and_users_get_a_mapped_namespace(self):
        from cagebuild import userns
        argv = ['python3', 'cage-build', 'child-layer', 'job.json']
        if os.getuid() == 0:
            self.assertEqual(userns.wrap(argv), argv)
            return
        try:
            wrapped = userns.wrap(argv)
        except BuildError as error:
            self.assertRegex(str(error), 'subordinate|newuidmap')
            return
        self.assertEqual(wrapped[:2], ['unshare', '--map-root-user'])
        self.assertRegex(wrapped[2], r'^--map-users=[0-9]+,1,65535$')
        self.assertEqual(wrapped[-4:], argv)


class IdShiftTest(unittest.TestCase):
    def test_like_cage_build_map(self):
        shift = idshift.IdShift(1000, 0, 1_000_000_000, 65536)  # root running --user 1000
        self.assertEqual(shift.to_host(1000), 0)
        self.assertEqual(shift.to_host(0), 1_000_000_000)
        self.assertEqual(shift.to_host(999), 1_000_000_999)
        self.assertEqual(shift.to_host(1001), 1_000_001_000)
        self.assertEqual(shift.to_host(65536), 1_000_065_535)
        self.assertIsNone(shift.to_host(65537))
        root = idshift.IdShift(0, 1000, 100000, 65536)  # a user running --user 0
        self.assertEqual(root.to_host(0), 1000)
        self.assertEqual(root.to_host(1), 100000)
        self.assertEqual(idshift.IdShift.identity().to_host(1234), 1234)


def tar_names(path):
    with tarfile.open(path) as tar:
        return [member.name for member in tar]


@unittest.skipUnless(os.getuid() == 0, 'whiteout devices and owners need root')
class LayerTest(unittest.TestCase):
    def make_upper(self, root, mtime):
        os.makedirs(os.path.join(root, 'etc/opaque'))
        os.makedirs(os.path.join(root, 'usr/bin'))
        with open(os.path.join(root, 'usr/bin/tool'), 'w') as file:
            file.write('#!/bin/sh\n')
        os.chmod(os.path.join(root, 'usr/bin/tool'), 0o4755)
        os.link(os.path.join(root, 'usr/bin/tool'), os.path.join(root, 'usr/bin/a-link'))
        os.symlink('tool', os.path.join(root, 'usr/bin/alias'))
        os.chown(os.path.join(root, 'usr/bin/alias'), 1000, 1000, follow_symlinks=False)
        os.mknod(os.path.join(root, 'etc/gone'), stat.S_IFCHR | 0o600, 0)
        os.setxattr(os.path.join(root, 'etc/opaque'), 'trusted.overlay.opaque', b'y')
        os.makedirs(os.path.join(root, 'cage-build'))
        for path in ['', 'etc', 'etc/opaque', 'usr', 'usr/bin', 'usr/bin/tool', 'etc/gone', 'cage-build']:
            os.utime(os.path.join(root, path), (mtime, mtime))

    def test_upper_directory_layers_are_deterministic_and_keep_whiteouts(self):
        with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as two:
            self.make_upper(os.path.join(one, 'upper'), 2_000_000_000)
            self.make_upper(os.path.join(two, 'upper'), 2_100_000_000)
            first = layer.pack_directory(os.path.join(one, 'upper'), os.path.join(one, 'l.tgz'), 1_800_000_000,
                                         exclude=('cage-build',))
            second = layer.pack_directory(os.path.join(two, 'upper'), os.path.join(two, 'l.tgz'), 1_800_000_000,
                                          exclude=('cage-build',))
            self.assertEqual(first, second)
            self.assertEqual(tar_names(os.path.join(one, 'l.tgz')),
                             ['etc', 'etc/.wh.gone', 'etc/opaque', 'etc/opaque/.wh..wh..opq', 'usr', 'usr/bin',
                              'usr/bin/a-link', 'usr/bin/alias', 'usr/bin/tool'])
            with tarfile.open(os.path.join(one, 'l.tgz')) as tar:
                members = {member.name: member for member in tar}
            self.assertTrue(members['usr/bin/a-link'].isreg())
            self.assertTrue(members['usr/bin/tool'].islnk())
            self.assertEqual(members['usr/bin/tool'].linkname, 'usr/bin/a-link')
            self.assertEqual(members['usr/bin/a-link'].mode, 0o4755)
            self.assertEqual((members['usr/bin/alias'].uid, members['usr/bin/alias'].uname), (1000, ''))
            self.assertTrue(all(member.mtime <= 1_800_000_000 for member in members.values()))
            with gzip.open(os.path.join(one, 'l.tgz')) as raw:
                self.assertNotIn(b'atime', raw.read())

    def test_unpack_honours_whiteouts_and_shifts_owners(self):
        with tempfile.TemporaryDirectory() as directory:
            lower = os.path.join(directory, 'lower.tar')
            with tarfile.open(lower, 'w') as tar:
                for name, kind in [('etc', tarfile.DIRTYPE), ('etc/gone', tarfile.REGTYPE),
                                   ('etc/opaque', tarfile.DIRTYPE), ('etc/opaque/old', tarfile.REGTYPE),
                                   ('home', tarfile.DIRTYPE), ('home/agent', tarfile.DIRTYPE)]:
                    info = tarfile.TarInfo(name)
                    info.type, info.mode = kind, 0o755
                    if name == 'home/agent':
                        info.uid = info.gid = 1000
                    tar.addfile(info, io.BytesIO(b'') if kind == tarfile.REGTYPE else None)
            upper_dir = os.path.join(directory, 'upper')
            self.make_upper(upper_dir, 2_000_000_000)
            upper = os.path.join(directory, 'upper.tgz')
            layer.pack_directory(upper_dir, upper, 1_800_000_000, exclude=('cage-build',))
            root = os.path.join(directory, 'root')
            shift = idshift.IdShift(1000, 0, 1_000_000_000, 65536)
            unpack.unpack([lower, upper], root, shift, shift)
            self.assertFalse(os.path.lexists(os.path.join(root, 'etc/gone')))
            self.assertEqual(os.listdir(os.path.join(root, 'etc/opaque')), [])
            self.assertEqual(os.stat(os.path.join(root, 'home/agent')).st_uid, 0)
            self.assertEqual(os.stat(os.path.join(root, 'etc')).st_uid, 1_000_000_000)
            self.assertEqual(os.stat(os.path.join(root, 'usr/bin/tool')).st_ino,
                             os.stat(os.path.join(root, 'usr/bin/a-link')).st_ino)
            self.assertEqual(stat.S_IMODE(os.stat(os.path.join(root, 'usr/bin/tool')).st_mode), 0o4755)

    def test_unpack_refuses_escapes(self):
        with tempfile.TemporaryDirectory() as directory:
            for name, linkname in [('../escape', None), ('a/../../b', None), ('link', '/'), ('/abs/../..', None)]:
                evil = os.path.join(directory, 'evil.tar')
                with tarfile.open(evil, 'w') as tar:
                    if linkname:
                        info = tarfile.TarInfo(name)
                        info.type, info.linkname = tarfile.SYMTYPE, linkname
                        tar.addfile(info)
                        info = tarfile.TarInfo(name + '/x')
                        tar.addfile(info, io.BytesIO(b''))
                    else:
                        tar.addfile(tarfile.TarInfo(name), io.BytesIO(b''))
                with self.subTest(name=name), self.assertRaisesRegex(BuildError, 'layer entry'):
                    unpack.unpack([evil], os.path.join(directory, 'root-' + str(len(name))),
                                  idshift.IdShift.identity(), idshift.IdShift.identity())


class LayoutTest(unittest.TestCase):
    def test_layout_round_trip(self):
        with tempfile.TemporaryDirectory() as directory:
            blob = os.path.join(directory, 'layer.tgz')
            with open(blob, 'wb') as file:
                file.write(gzip.compress(b'not really a tar', mtime=0))
            with open(blob, 'rb') as file:
                digest = 'sha256:' + hashlib.sha256(file.read()).hexdigest()
            facts = {'digest': digest,
                     'size': os.path.getsize(blob), 'diff_id': 'sha256:' + '0' * 64}
            chain = recipe.chain('node', RECIPES)
            layout = os.path.join(directory, 'layout')
            build.write_layout(layout, chain, [facts, facts], lambda digest: blob, 1_800_000_000, 'node:22')
            with open(os.path.join(layout, 'index.json')) as file:
                index = json.load(file)
            names = [entry['annotations'][oci.REF_NAME] for entry in index['manifests']]
            self.assertEqual(names, ['base:latest', 'node:22'])
            self.assertEqual(len(layout_read.layers_of(layout, 'node:22')), 2)
            self.assertEqual(len(layout_read.layers_of(layout, 'base')), 1)
            with self.assertRaisesRegex(BuildError, 'no image named'):
                layout_read.layers_of(layout, 'claude')
            with open(blob, 'ab') as file:
                file.write(b'x')
            os.unlink(os.path.join(layout, 'blobs', 'sha256', facts['digest'][7:]))
            os.link(blob, os.path.join(layout, 'blobs', 'sha256', facts['digest'][7:]))
            with self.assertRaisesRegex(BuildError, 'does not match its digest'):
                layout_read.layers_of(layout, 'base')


if __name__ == '__main__':
    unittest.main()
