"""Names in pools shared with Concourse: what may be released, what a claim may take, what Concourse's in reads."""

import pytest

from ansible_collections.lockpool.git.plugins.module_utils._errors import InvalidInputError
from ansible_collections.lockpool.git.plugins.module_utils._message import format_message
from ansible_collections.lockpool.git.plugins.module_utils._names import concourse_unreadable, unclaimable, validate_existing_name


@pytest.mark.parametrize('name', ['head', 'HEAD', '-x', ' padded ', 'a\\b', 'e*', 'tab\there', 'x' * 255])
def test_a_lock_that_exists_may_be_named_anything_that_is_one_path_component(name):
    assert validate_existing_name('lock', name) == name


@pytest.mark.parametrize('name', ['a/b', 'a\x00b', '.', '..', '', '.gitkeep', '.x', 'x' * 256])
def test_a_name_that_is_no_lock_file_of_a_pool_is_refused_even_for_an_existing_lock(name):
    with pytest.raises(InvalidInputError):
        validate_existing_name('lock', name)


def test_a_claim_never_takes_a_lock_whose_name_has_a_control_character():
    assert unclaimable('a\nb') and unclaimable('a\tb')
    assert unclaimable('head') is None and unclaimable('-x') is None


@pytest.mark.parametrize('name, why', [('env 7', 'white space'), ('café-1', 'non-ASCII'), ('a"b', 'quote'), ('a\\b', 'backslash'),
                                       ('e*', 'glob'), ('e?', 'glob'), ('[e', 'glob')])
def test_names_concourse_in_cannot_read_say_why(name, why):
    assert why in concourse_unreadable(name)


@pytest.mark.parametrize('name', ['env-1', 'eu_west.2', 'head', 'x:y', "it's"])
def test_names_concourse_in_reads(name):
    assert concourse_unreadable(name) is None


def test_a_subject_names_a_lock_with_a_newline_on_one_line():
    message = format_message('remove', 'a\nb', 'alice', pool='aws')
    assert message.splitlines()[:3] == ['removing: a\\x0ab', '', 'Lock-Holder: alice']
