"""Recipes: parse and validate rootfs-builder/recipes/NAME.yaml (schema in cage-recipe(5))."""
import hashlib
import json
import os
import re

import yaml

from . import BuildError

FIELDS = {'name', 'parent', 'packages', 'archives', 'npm', 'run', 'env', 'user', 'workdir', 'entrypoint', 'cmd'}
NAME = re.compile(r'^[a-z0-9][a-z0-9._-]{0,62}$')
PACKAGE = re.compile(r'^[a-z0-9][a-z0-9+.-]+$')
NPM_SPEC = re.compile(r'^(@[a-z0-9][a-z0-9._~-]*/)?[a-z0-9][a-z0-9._~-]*(@[A-Za-z0-9.^~<>=*| -]+)?$')
ENV_KEY = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')


def _fail(path, why):
    raise BuildError(f'invalid recipe: {why} [{path}]')


def _string_list(data, key, path, pattern=None):
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        _fail(path, f"'{key}' must be a list of strings")
    for item in value:
        if pattern and not pattern.match(item):
            _fail(path, f"'{key}': invalid entry '{item}'")
    return value


def _archives(data, path):
    value = data.get('archives', [])
    if not isinstance(value, list):
        _fail(path, "'archives' must be a list")
    result = []
    for item in value:
        if not isinstance(item, dict) or not {'npm', 'prefix'} <= set(item) <= {'npm', 'prefix', 'exclude'}:
            _fail(path, "an 'archives' entry has the keys npm and prefix, and maybe exclude")
        if not isinstance(item['npm'], str) or not NPM_SPEC.match(item['npm']):
            _fail(path, f"'archives': invalid npm package '{item['npm']}'")
        if not isinstance(item['prefix'], str) or not item['prefix'].startswith('/') or '..' in item['prefix'].split('/'):
            _fail(path, "'archives': prefix must be an absolute path without '..'")
        exclude = _string_list(item, 'exclude', path)
        if any(name.startswith('/') or '..' in name.split('/') for name in exclude):
            _fail(path, "'archives': exclude names paths inside the package, without '..'")
        result.append({'npm': item['npm'], 'prefix': item['prefix'], 'exclude': exclude})
    return result


def _env(data, path):
    value = data.get('env', {})
    if not isinstance(value, dict):
        _fail(path, "'env' must be a mapping of names to strings")
    for key, item in value.items():
        if not isinstance(key, str) or not ENV_KEY.match(key) or not isinstance(item, (str, int)):
            _fail(path, f"'env': invalid entry '{key}'")
    return {key: str(item) for key, item in value.items()}


def _optional_string(data, key, path):
    value = data.get(key)
    if value is not None and (not isinstance(value, str) or not value):
        _fail(path, f"'{key}' must be a non-empty string")
    return value


def parse(text, path='<recipe>'):
    """The validated recipe as a dict with every field present (defaults filled in)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        _fail(path, 'not YAML: ' + str(error).splitlines()[0])
    if not isinstance(data, dict):
        _fail(path, 'a recipe is a YAML mapping')
    unknown = sorted(set(map(str, data)) - FIELDS)
    if unknown:
        _fail(path, 'unknown field ' + ', '.join(unknown))
    name = data.get('name')
    if not isinstance(name, str) or not NAME.match(name):
        _fail(path, "'name' is required: lower-case letters, digits, '.', '_' and '-'")
    parent = _optional_string(data, 'parent', path)
    recipe = {
        'name': name,
        'parent': parent,
        'packages': _string_list(data, 'packages', path, PACKAGE),
        'archives': _archives(data, path),
        'npm': _string_list(data, 'npm', path, NPM_SPEC),
        'run': _string_list(data, 'run', path),
        'env': _env(data, path),
        'user': _optional_string(data, 'user', path),
        'workdir': _optional_string(data, 'workdir', path),
        'entrypoint': _string_list(data, 'entrypoint', path),
        'cmd': _string_list(data, 'cmd', path),
    }
    if parent is None and (recipe['archives'] or recipe['npm'] or recipe['run']):
        _fail(path, 'a recipe without a parent (a Debian base) takes only packages')
    if recipe['workdir'] is not None and not recipe['workdir'].startswith('/'):
        _fail(path, "'workdir' must be an absolute path")
    return recipe


def load(reference, recipe_dir):
    """A recipe by name (looked up in recipe_dir) or by path to a .yaml file."""
    path = reference if reference.endswith(('.yaml', '.yml')) or '/' in reference \
        else os.path.join(recipe_dir, reference + '.yaml')
    try:
        with open(path, encoding='utf-8') as file:
            text = file.read()
    except OSError as error:
        raise BuildError(f'cannot read the recipe: {error.strerror} [{path}]') from None
    recipe = parse(text, path)
    recipe['path'] = os.path.abspath(path)
    return recipe


def _load_parent(name, child, recipe_dir):
    """A parent by name: beside its child first, then among the builder's recipes."""
    beside = os.path.dirname(child['path'])
    if '/' not in name and not name.endswith(('.yaml', '.yml')) and \
            not os.path.exists(os.path.join(beside, name + '.yaml')):
        return load(name, recipe_dir)
    return load(name, beside)


def chain(reference, recipe_dir):
    """The recipe and its ancestors, root first; a cycle or a missing parent is an error."""
    recipes = [load(reference, recipe_dir)]
    while recipes[0]['parent']:
        parent = recipes[0]['parent']
        if any(item['name'] == parent for item in recipes):
            raise BuildError(f"recipe parents form a cycle at '{parent}' [{recipes[0]['path']}]")
        recipes.insert(0, _load_parent(parent, recipes[0], recipe_dir))
    return recipes


# Fields that only go into the image config, not into the layer: changing them reuses the layer.
CONFIG_ONLY = {'user', 'workdir', 'entrypoint', 'cmd'}


def key(recipe, parent_digest, builder_version):
    """The cache key of a recipe's layer: what makes its content, its parent layer's digest and
    the builder."""
    content = {field: recipe[field] for field in sorted(FIELDS - CONFIG_ONLY)}
    text = json.dumps([builder_version, parent_digest, content], sort_keys=True, separators=(',', ':'))
    return hashlib.sha256(text.encode()).hexdigest()
