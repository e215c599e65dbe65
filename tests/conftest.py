"""Makes the collection importable as ansible_collections.lockpool.git and the helpers as ``support``."""

import os
import sys

TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS)
COLLECTIONS = os.path.join(ROOT, 'build', 'collections')
LINK = os.path.join(COLLECTIONS, 'ansible_collections', 'lockpool', 'git')

if not os.path.exists(LINK):
    os.makedirs(os.path.dirname(LINK), exist_ok=True)
    os.symlink(os.path.relpath(ROOT, os.path.dirname(LINK)), LINK)
for path in (COLLECTIONS, TESTS):
    if path not in sys.path:
        sys.path.insert(0, path)
