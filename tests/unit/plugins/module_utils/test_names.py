import pytest

from ansible_collections.lockpool.git.plugins.module_utils._errors import InvalidInputError
from ansible_collections.lockpool.git.plugins.module_utils._names import validate_name


@pytest.mark.parametrize('name', ['env-1', 'aws', 'eu_west.2', 'Ünïcode', 'with space', 'x' * 255])
def test_ordinary_names_are_accepted(name):
    assert validate_name('lock', name) == name


@pytest.mark.parametrize('name, problem', [
    ('', 'must not be empty'),
    ('../x', 'path separator'),
    ('a/b', 'path separator'),
    ('a\\b', 'path separator'),
    ('..', 'must not start with a dot'),
    ('.hidden', 'must not start with a dot'),
    ('.git', 'must not start with a dot'),
    ('-rf', 'must not start with a dash'),
    ('a\nb', 'control character'),
    ('a\x00b', 'control character'),
    (' padded ', 'white space'),
    ('HEAD', 'reserved'),
    ('x' * 256, 'longer than 255 bytes'),
    ('é' * 128, 'longer than 255 bytes'),
])
def test_bad_names_are_refused_with_the_reason(name, problem):
    with pytest.raises(InvalidInputError, match=problem):
        validate_name('lock', name)


def test_message_names_the_kind():
    with pytest.raises(InvalidInputError, match='^pool name'):
        validate_name('pool', 'a/b')


def test_non_string_is_refused():
    with pytest.raises(InvalidInputError, match='must be a string'):
        validate_name('lock', 3)
