# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Options shared by every plugin that reads or writes a lock repository.
    # Modules and lookups both use DOCUMENTATION; lookups add PLUGINS for the env entries.
    DOCUMENTATION = r'''
options:
  repo:
    description:
      - The lock repository, as git understands it (C(https://...), C(ssh://...), C(git@host:path), C(git://...) or a local path).
      - The Concourse pool-resource calls this C(uri); O(uri) is accepted as an alias.
      - Taken from the E(LOCKPOOL_REPO) environment variable when not given.
      - Credentials in the URL are accepted but never shown; prefer the credential options.
    type: str
    required: true
    aliases: [uri]
  branch:
    description:
      - The branch that holds the pools.
      - Taken from the E(LOCKPOOL_BRANCH) environment variable when not given.
    type: str
    default: main
  cache_dir:
    description:
      - Directory for the local cache of the lock repository, shared by every run on this machine.
      - Taken from the E(LOCKPOOL_CACHE_DIR) environment variable when not given.
      - Defaults to C($XDG_CACHE_HOME/lockpool) or C(~/.cache/lockpool).
    type: path
requirements:
  - git (the command line tool) on the host that runs the plugin
  - GitPython
  - PyYAML
'''

    PLUGINS = r'''
options:
  repo:
    env:
      - name: LOCKPOOL_REPO
  branch:
    env:
      - name: LOCKPOOL_BRANCH
  cache_dir:
    env:
      - name: LOCKPOOL_CACHE_DIR
'''
