# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One way to read options, whether they come from a module's params or a lookup's get_option."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class OptionAdapter(object):
    """Reads options through two callables: one that returns a value, one that says if it is known."""

    def __init__(self, getter, has):
        self._getter = getter
        self._has = has

    @classmethod
    def from_dict(cls, values):
        return cls(getter=values.__getitem__, has=values.__contains__)

    @classmethod
    def from_ansible_module(cls, module):
        return cls.from_dict(module.params)

    @classmethod
    def from_ansible_plugin(cls, plugin):
        def has(name):
            try:
                plugin.get_option(name)
            except KeyError:
                return False
            return True
        return cls(getter=plugin.get_option, has=has)

    def get_option(self, name):
        return self._getter(name)

    def get_option_default(self, name, default=None):
        if not self._has(name):
            return default
        value = self._getter(name)
        return default if value is None else value
