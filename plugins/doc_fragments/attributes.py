# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # What the attributes of this collection's modules mean; each module says how far it supports them.
    DOCUMENTATION = r'''
options: {}
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying the lock repository.
  diff_mode:
    description: Returns the locks' state and metadata before and after the change in diff mode.
  action_group:
    description: Use C(group/lockpool.git.pool) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - lockpool.git.pool
'''
