"""lockpool.git.reserved_host: which of a lock's metadata become the variables of the host it adds."""

import pytest

from ansible.errors import AnsibleActionFail

from ansible_collections.lockpool.git.plugins.action.reserved_host import host_entry, host_name_of


def lock(data=None, metadata='', name='env-1'):
    return dict(name=name, pool='aws', state='claimed', holder='alice', token=7, metadata=metadata, data=data,
                claimed_at='2026-11-23T09:41:07Z', age=3, commit='c0ffee', expires_at=None, expired=False)


def host_vars(the_lock, **more):
    entry, _warnings = host_entry(the_lock, the_lock['name'], ['reserved'], **more)
    return entry['host_vars']


def test_every_top_level_key_of_a_mapping_is_a_host_variable_and_the_lock_is_lockpool_lock():
    the_lock = lock({'ansible_user': 'ci', 'region': 'eu-west-1', 'ports': [80, 443]})
    assert host_vars(the_lock) == {
        'ansible_user': 'ci', 'region': 'eu-west-1', 'ports': [80, 443],
        'lockpool_lock': {'name': 'env-1', 'pool': 'aws', 'holder': 'alice', 'token': 7, 'metadata': '',
                          'data': {'ansible_user': 'ci', 'region': 'eu-west-1', 'ports': [80, 443]}}}


def test_host_is_also_ansible_host_when_the_metadata_has_none():
    assert host_vars(lock({'host': '10.0.3.7'}))['ansible_host'] == '10.0.3.7'
    assert host_vars(lock({'host': '10.0.3.7'}))['host'] == '10.0.3.7'


def test_the_metadatas_own_ansible_host_wins_over_host():
    assert host_vars(lock({'host': 'env-1.example', 'ansible_host': '10.0.3.7'}))['ansible_host'] == '10.0.3.7'


@pytest.mark.parametrize('host', [None, '', 7, ['a', 'b'], {'ip': '10.0.3.7'}])
def test_a_host_that_is_not_a_name_gives_no_ansible_host(host):
    assert 'ansible_host' not in host_vars(lock({'host': host}))


@pytest.mark.parametrize('data, metadata', [(None, 'just some text\n'), (None, ''), (['a', 'b'], '- a\n- b\n')])
def test_metadata_that_is_not_a_mapping_gives_only_lockpool_lock(data, metadata):
    variables = host_vars(lock(data, metadata))
    assert list(variables) == ['lockpool_lock']
    assert (variables['lockpool_lock']['metadata'], variables['lockpool_lock']['data']) == (metadata, data)


def test_keys_that_cannot_name_a_variable_are_left_out_with_a_warning_naming_them():
    the_lock = lock({'a-b': 1, 'x y': 2, 'class': 3, '1st': 4, 'café': 5, 'ok_1': 6, 'lockpool_lock': 'mine'})
    entry, warnings = host_entry(the_lock, 'env-1', ['reserved'])
    assert set(entry['host_vars']) == {'ok_1', 'lockpool_lock'}
    assert entry['host_vars']['lockpool_lock']['name'] == 'env-1'
    assert len(warnings) == 1
    for key in ('a-b', 'x y', 'class', '1st', 'café', 'lockpool_lock'):
        assert repr(key) in warnings[0]
    assert "lock 'env-1' in pool 'aws'" in warnings[0] and "'ok_1'" not in warnings[0]


def test_no_warning_when_every_key_is_a_variable_name():
    assert host_entry(lock({'region': 'eu'}), 'env-1', ['reserved'])[1] == []


def test_variables_take_only_the_ones_named_ansible_host_from_host_included():
    the_lock = lock({'host': '10.0.3.7', 'ansible_user': 'ci', 'ansible_ssh_common_args': '-o ProxyCommand=evil', 'a-b': 1})
    entry, warnings = host_entry(the_lock, 'env-1', ['reserved'], variables=['ansible_host', 'ansible_user'])
    assert set(entry['host_vars']) == {'ansible_host', 'ansible_user', 'lockpool_lock'}
    assert entry['host_vars']['ansible_host'] == '10.0.3.7'
    assert warnings == []


def test_a_host_already_in_the_inventory_gets_none_of_the_metadatas_variables():
    entry, warnings = host_entry(lock({'ansible_host': '10.0.3.7', 'a-b': 1}), 'env-1', ['reserved'], known=True)
    assert list(entry['host_vars']) == ['lockpool_lock']
    assert warnings == []


def test_the_entry_is_what_add_host_returns_with_the_groups_given():
    entry, _warnings = host_entry(lock({'region': 'eu'}), 'aws-env-1', ['reserved', 'aws'])
    assert (entry['host_name'], entry['groups']) == ('aws-env-1', ['reserved', 'aws'])
    assert set(entry) == {'host_name', 'groups', 'host_vars'}


def test_the_host_is_named_after_the_lock_unless_a_name_is_given():
    assert host_name_of(lock()) == 'env-1'
    assert host_name_of(lock(), 'aws-env-1') == 'aws-env-1'


def test_a_null_lock_fails_saying_no_lock_was_acquired():
    with pytest.raises(AnsibleActionFail, match='lock is null: no lock was acquired'):
        host_name_of(None)


@pytest.mark.parametrize('not_a_lock', ['env-1', {'pool': 'aws'}, {'name': '', 'pool': 'aws'}, {'name': 'env-1'}, [lock()]])
def test_anything_but_a_lock_fails(not_a_lock):
    with pytest.raises(AnsibleActionFail, match='lock must be a lock as lockpool.git.pool_lock returns it'):
        host_name_of(not_a_lock)


def test_an_empty_name_fails():
    with pytest.raises(AnsibleActionFail, match='name must not be empty'):
        host_name_of(lock(), ' ')
