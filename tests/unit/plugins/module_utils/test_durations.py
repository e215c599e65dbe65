import pytest

from ansible_collections.lockpool.git.plugins.module_utils._durations import parse_duration
from ansible_collections.lockpool.git.plugins.module_utils._errors import InvalidInputError


@pytest.mark.parametrize('value, seconds', [
    ('10s', 10), ('90m', 5400), ('1h', 3600), ('1h30m', 5400), ('500ms', 0.5),
    ('2d', 172800), (15, 15), (2.5, 2.5), ('30', 30), (' 5 s ', 5), ('0', 0),
])
def test_durations(value, seconds):
    assert parse_duration(value) == pytest.approx(seconds)


@pytest.mark.parametrize('value', ['ten seconds', '10x', 's', '-5', -1, True, '1h-2m', ''])
def test_bad_durations_are_refused(value):
    with pytest.raises(InvalidInputError, match='timeout'):
        parse_duration(value, 'timeout')
