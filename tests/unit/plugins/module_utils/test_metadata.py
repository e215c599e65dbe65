import json

import pytest

from ansible_collections.lockpool.git.plugins.module_utils._errors import InvalidInputError
from ansible_collections.lockpool.git.plugins.module_utils._metadata import (
    MAX_DATA_DEPTH,
    MAX_METADATA_BYTES,
    json_safe,
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


# -- what JSON cannot carry: every parsed value reaches Ansible ---------------------------------------

@pytest.mark.parametrize('raw, data', [
    (b'maintenance: {2024-06-01: kernel upgrade}\n', {'maintenance': {'2024-06-01': 'kernel upgrade'}}),
    (b'since: 2024-06-01\n', {'since': '2024-06-01'}),
    (b'at: 2024-06-01T10:30:00Z\n', {'at': '2024-06-01T10:30:00+00:00'}),
    (b'at: 2024-06-01 10:30:00\n', {'at': '2024-06-01T10:30:00'}),
    (b'typo: 2024-02-30\n', {'typo': '2024-02-30'}),
    (b'key: !!binary aGVsbG8=\n', {'key': 'aGVsbG8='}),
    (b'members: !!set {b, a}\n', {'members': ['a', 'b']}),
    (b'steps: !!omap [one: 1, two: 2]\n', {'steps': [['one', 1], ['two', 2]]}),
    (b'2: two\ntrue: yes\n~: none\n1.5: half\n', {'2': 'two', 'true': True, 'null': 'none', '1.5': 'half'}),
    (b'low: -.inf\nhigh: .inf\nnot: .nan\n', {'low': '-.inf', 'high': '.inf', 'not': '.nan'}),
    (b'vault: !vault abc\ncustom: !mine {a: 1}\nlist: !!python/tuple [1, 2]\n', {'vault': 'abc', 'custom': {'a': 1}, 'list': [1, 2]}),
    (b'serial: 123456789012345678901234567890\n', {'serial': '123456789012345678901234567890'}),
])
def test_parsed_metadata_is_what_json_carries(raw, data):
    parsed = parse_metadata(raw)
    assert parsed == data
    assert json.loads(json.dumps(parsed, allow_nan=False)) == data


def test_an_integer_too_long_for_decimal_text_is_its_hexadecimal_text():
    assert parse_metadata(b'huge: 0x' + b'f' * 5000 + b'\n') == {'huge': '0x' + 'f' * 5000}


def test_a_lone_surrogate_escape_becomes_a_replacement_character():
    assert json_safe({'text': 'bad \udcff'}) == {'text': 'bad \ufffd'}


# -- bounded: what parsing may produce, as writes are bounded ------------------------------------------

BILLION_LAUGHS = b''.join(b'%s: &%s [%s]\n' % (name, name, b','.join([previous] * 9)) for name, previous in [
    (b'a', b'"lol"'), (b'b', b'*a'), (b'c', b'*b'), (b'd', b'*c'), (b'e', b'*d'), (b'f', b'*e')])


def test_a_billion_laughs_is_no_data():
    assert len(BILLION_LAUGHS) < 300
    assert parse_metadata(BILLION_LAUGHS) is None


def test_an_alias_inside_its_own_anchor_is_no_data():
    assert parse_metadata(b'&loop [*loop]') is None


def test_data_deeper_than_the_limit_is_no_data():
    assert parse_metadata(b'[' * MAX_DATA_DEPTH + b']' * MAX_DATA_DEPTH) is not None
    assert parse_metadata(b'[' * (MAX_DATA_DEPTH + 1) + b']' * (MAX_DATA_DEPTH + 1)) is None


def test_a_merge_chain_beyond_the_size_limit_is_no_data():
    chain = b'a0: &a0 {k0: 0}\n' + b''.join(b'a%d: &a%d {<<: *a%d, k%d: 0}\n' % (i, i, i - 1, i) for i in range(1, 3000))
    assert len(chain) < MAX_METADATA_BYTES
    assert parse_metadata(chain) is None


def test_a_lock_file_larger_than_writes_allow_is_not_parsed():
    assert parse_metadata(b'a: ' + b'x' * MAX_METADATA_BYTES) is None
