# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A lock's metadata: the lock file's bytes, handed over verbatim, and their parsed form."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import datetime
import importlib.util
import json
import math
import re

from ansible_collections.lockpool.git.plugins.module_utils._errors import InvalidInputError

# PyYAML is imported on first use: most lock files are empty, and every module run is a new process.
HAS_YAML = importlib.util.find_spec('yaml') is not None
YAML_IMPORT_ERROR = None if HAS_YAML else ImportError('No module named yaml')  # modules report it with missing_required_lib

MAX_METADATA_BYTES = 1024 * 1024
# What parsing a lock file may produce, as writes are bounded: a data node counts one, a key's or a value's text its
# length too (about the size of its JSON), each alias counted in full; a document of MAX_METADATA_BYTES without
# aliases stays within it. Deeper data is refused before Python's recursion (or a JSON encoder's) is.
MAX_DATA_SIZE = 2 * MAX_METADATA_BYTES
MAX_DATA_DEPTH = 100


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
    """The metadata parsed as YAML (JSON is YAML) when it is a mapping or a list, else None.

    What it returns is JSON's kind of data whatever the lock file holds (see ``json_safe``): every result that holds
    it must reach Ansible, above all a claim's, made after its push. A lock file larger than writes may make, or
    whose aliases expand it beyond MAX_DATA_SIZE, MAX_DATA_DEPTH or into itself, is not parsed any further: a
    hostile lock file costs a reader no more than a large one (docs/reading-pools.md says what each limit is).
    """
    if not raw.strip() or len(raw) > MAX_METADATA_BYTES:
        return None
    try:
        text = raw.decode('utf-8')
    except UnicodeDecodeError:
        return None
    loader = _loader_class()(text)
    try:
        node = loader.get_single_node()
        if node is None or node.id not in ('mapping', 'sequence') or not _within_limits(node):
            return None
        data = loader.construct_document(node)
    except Exception:  # hostile text: whatever the parser or a constructor raises (dates out of range too), it is not data
        return None
    finally:
        loader.dispose()
    return json_safe(data)


_LOADER = []


def _loader_class():
    """PyYAML's safe loader (libyaml's when PyYAML was built with it: reading a pool of thousands of locks parses
    every one), reading a tag it does not know as if the value had none."""
    if not _LOADER:
        import yaml

        class Loader(getattr(yaml, 'CSafeLoader', yaml.SafeLoader)):
            pass

        untagged = {'scalar': Loader.construct_scalar, 'sequence': Loader.construct_yaml_seq, 'mapping': Loader.construct_yaml_map}
        Loader.add_constructor(None, lambda loader, node: untagged[node.id](loader, node))
        Loader.add_constructor('tag:yaml.org,2002:timestamp', _timestamp_or_text)
        _LOADER.append(Loader)
    return _LOADER[0]


def _timestamp_or_text(loader, node):
    """A date or time, or its text when it is not one (``2024-02-30``): one typo is not the end of a lock's data."""
    try:
        return loader.construct_yaml_timestamp(node)
    except ValueError:
        return loader.construct_scalar(node)


def _within_limits(root):
    """True when the data of the composed ``root`` stays within MAX_DATA_SIZE and MAX_DATA_DEPTH, each alias counted
    in full as JSON will spell it out, and no node holds itself. Each node is looked at once (aliases share them)."""
    try:
        _measure(root, 1, {}, set())
    except _BeyondLimits:
        return False
    return True


class _BeyondLimits(Exception):
    pass


def _measure(node, depth, measured, open_nodes):
    """(size, height) of the data of the collection ``node`` at ``depth``; ``measured`` holds those of the collections
    measured so far, ``open_nodes`` those being measured (an alias to one of them would hold itself)."""
    key = id(node)
    if depth > MAX_DATA_DEPTH or key in open_nodes:
        raise _BeyondLimits()
    open_nodes.add(key)
    size, height = 1, 0
    for child in node.value if node.id == 'sequence' else [part for pair in node.value for part in pair]:
        if child.id == 'scalar':
            size += 1 + len(child.value)
            height = height or 1
            continue
        found = measured.get(id(child))
        if found is None:
            found = _measure(child, depth + 1, measured, open_nodes)
        elif depth + found[1] > MAX_DATA_DEPTH:
            raise _BeyondLimits()
        size += found[0]
        height = max(height, found[1])
        if size > MAX_DATA_SIZE:
            raise _BeyondLimits()
    if size > MAX_DATA_SIZE:
        raise _BeyondLimits()
    open_nodes.discard(key)
    measured[key] = (size, height + 1)
    return measured[key]


def json_safe(value):
    """``value`` (parsed YAML) as JSON's kind of data: mappings with text keys, lists, text, numbers, booleans, null.

    How each other kind is shown is documented in docs/reading-pools.md ("Metadata JSON cannot carry").
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value if value.isascii() else _valid_text(value)
    if isinstance(value, int):
        return value if value.bit_length() <= 64 else _integer_text(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else _FLOAT_TEXT[str(value)]
    if isinstance(value, dict):
        return dict((_key_text(key), json_safe(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if isinstance(value, (set, frozenset)):
        return sorted((json_safe(item) for item in value), key=_key_text)
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode('ascii')
    return _valid_text(str(value))


_SURROGATE = re.compile('[\ud800-\udfff]')
_FLOAT_TEXT = {'nan': '.nan', 'inf': '.inf', '-inf': '-.inf'}  # as YAML writes them: JSON has no such numbers


def _valid_text(text):
    """``text`` with U+FFFD for each lone surrogate (an escape the pure-Python parser takes), which UTF-8 cannot carry."""
    return _SURROGATE.sub('\ufffd', text)


def _integer_text(value):
    try:
        return '%d' % value
    except ValueError:  # more digits than Python turns into decimal text
        return hex(value)


def _key_text(key):
    """A mapping key as JSON's text key: text as it is, anything else as its JSON text (``1``, ``true``, ``null``,
    ``2024-06-01``)."""
    key = json_safe(key)
    if isinstance(key, str):
        return key
    return json.dumps(key, sort_keys=True)
