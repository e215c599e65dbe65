# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A lock's metadata: the lock file's bytes, handed over verbatim, and their parsed form."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib.util

from ansible_collections.lockpool.git.plugins.module_utils._errors import InvalidInputError

# PyYAML is imported on first use: most lock files are empty, and every module run is a new process.
HAS_YAML = importlib.util.find_spec('yaml') is not None
YAML_IMPORT_ERROR = None if HAS_YAML else ImportError('No module named yaml')  # modules report it with missing_required_lib

MAX_METADATA_BYTES = 1024 * 1024


def metadata_bytes(value):
    """Turn the ``metadata`` option into the bytes of a lock file.

    A string is written verbatim; a mapping or a list is written as YAML.
    """
    if value is None:
        return b''
    if isinstance(value, (dict, list)):
        import yaml
        text = yaml.safe_dump(value, default_flow_style=False, sort_keys=False, allow_unicode=True)
    elif isinstance(value, str):
        text = value
    else:
        raise InvalidInputError('metadata must be a string, a mapping or a list, got %s' % type(value).__name__)
    if '\x00' in text:
        raise InvalidInputError('metadata must be text: it contains a NUL byte')
    try:
        data = text.encode('utf-8')
    except UnicodeEncodeError:
        raise InvalidInputError('metadata must be valid UTF-8 text')
    if len(data) > MAX_METADATA_BYTES:
        raise InvalidInputError('metadata is %d bytes, more than the limit of %d bytes' % (len(data), MAX_METADATA_BYTES))
    return data


def metadata_text(raw):
    """The lock file's bytes as text (undecodable bytes become U+FFFD)."""
    return raw.decode('utf-8', 'replace')


def parse_metadata(raw):
    """The metadata parsed as YAML (JSON is YAML) when it is a mapping or a list, else None."""
    if not raw.strip():
        return None
    import yaml
    # libyaml's loader when PyYAML was built with it: reading a pool of thousands of locks parses every one.
    loader = getattr(yaml, 'CSafeLoader', yaml.SafeLoader)
    try:
        data = yaml.load(raw.decode('utf-8'), Loader=loader)
    except (UnicodeDecodeError, yaml.YAMLError):
        return None
    return data if isinstance(data, (dict, list)) else None
