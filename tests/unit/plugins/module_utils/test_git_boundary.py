"""The git layer is closed: it imports nothing of the domain, and nothing else imports GitPython.

The git layer runs git and returns plain data (tree entries, blobs, commit info); the domain (pools,
locks, claims, the transaction) calls it and never the other way round. Read from each file's imports.
"""

import ast
import os

import pytest

from ansible_collections.lockpool.git.plugins import module_utils

PACKAGE = module_utils.__name__
COLLECTION = PACKAGE.rsplit('.plugins.', 1)[0] + '.'
MODULE_UTILS = os.path.dirname(module_utils.__file__)
PLUGINS = os.path.dirname(MODULE_UTILS)
GIT_LAYER = ('_git_command', '_git_objects', '_machine', '_repo_cache', '_trees')
# What the git layer may import of the collection: itself, the exceptions every layer raises, and how a process is
# told apart (the notes of a machine's waiters name their processes).
GIT_LAYER_MAY_IMPORT = GIT_LAYER + ('_errors', '_processes')
GIT_LIBRARIES = ('git', 'gitdb', 'subprocess')


def imported_modules(path):
    """The full name of every module the file at ``path`` imports (relative imports resolved in module_utils)."""
    with open(path, encoding='utf-8') as handle:
        tree = ast.parse(handle.read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            base = PACKAGE.rsplit('.', node.level - 1)[0] if node.level else ''
            base = '.'.join(part for part in (base, node.module) if part)
            if base == PACKAGE:  # from ...module_utils import _inventory: a module each name
                for alias in node.names:
                    yield '%s.%s' % (PACKAGE, alias.name)
            else:
                yield base


def collection_modules(path):
    """The modules of this collection that the file at ``path`` imports, by their name under module_utils
    (``_errors``), or by their full name when they are elsewhere in the collection."""
    for name in imported_modules(path):
        if name.startswith(PACKAGE + '.'):
            yield name[len(PACKAGE) + 1:]
        elif name.startswith(COLLECTION):
            yield name


@pytest.mark.parametrize('name', GIT_LAYER)
def test_the_git_layer_imports_nothing_of_the_domain(name):
    imported = set(collection_modules(os.path.join(MODULE_UTILS, name + '.py')))

    assert imported - set(GIT_LAYER_MAY_IMPORT) == set()


def test_only_the_git_layer_imports_gitpython_or_runs_processes():
    importers = {}
    for directory, _dirs, files in os.walk(PLUGINS):
        for file_name in files:
            path = os.path.join(directory, file_name)
            if file_name.endswith('.py') and os.path.relpath(path, MODULE_UTILS)[:-3] not in GIT_LAYER:
                libraries = set(name.split('.')[0] for name in imported_modules(path)) & set(GIT_LIBRARIES)
                if libraries:
                    importers[os.path.relpath(path, PLUGINS)] = sorted(libraries)

    assert importers == {}
