import pytest

from ansible_collections.lockpool.git.plugins.module_utils._errors import InvalidInputError
from ansible_collections.lockpool.git.plugins.module_utils._metadata import (
    MAX_METADATA_BYTES,
    metadata_bytes,
    metadata_text,
    parse_metadata,
)


def test_text_is_written_verbatim():
    assert metadata_bytes('a: 1\n# comment\n') == b'a: 1\n# comment\n'


def test_mapping_is_written_as_yaml_in_given_order():
    assert metadata_bytes({'z': 1, 'a': [1, 2]}) == b'z: 1\na:\n- 1\n- 2\n'


def test_unicode_metadata_is_utf8():
    assert metadata_bytes('région: é') == 'région: é'.encode('utf-8')


def test_nul_byte_is_refused():
    with pytest.raises(InvalidInputError, match='NUL'):
        metadata_bytes('a\x00b')


def test_lone_surrogate_is_refused():
    with pytest.raises(InvalidInputError, match='UTF-8'):
        metadata_bytes('bad \udcff byte')


def test_oversized_metadata_is_refused():
    with pytest.raises(InvalidInputError, match='more than the limit'):
        metadata_bytes('x' * (MAX_METADATA_BYTES + 1))


def test_other_types_are_refused():
    with pytest.raises(InvalidInputError, match='string, a mapping or a list'):
        metadata_bytes(12)


@pytest.mark.parametrize('raw, data', [
    (b'region: eu\n', {'region': 'eu'}),
    (b'{"region": "us"}', {'region': 'us'}),
    (b'- a\n- b\n', ['a', 'b']),
    (b'just text', None),
    (b'', None),
    (b'a: [unclosed', None),
    (b'\xff\xfe', None),
])
def test_parse_metadata(raw, data):
    assert parse_metadata(raw) == data


def test_undecodable_bytes_become_replacement_characters():
    assert metadata_text(b'ok \xff') == 'ok \ufffd'
