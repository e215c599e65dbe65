"""The environment a lock reserves joins the play (issue 19): lockpool.git.reserved_host and the role's with_lock_add_host.

Each test runs real playbooks against a real lock repository: the first play reserves and adds the host, the next
play (``hosts: reserved``) runs on it and records what it sees there, and the last one gives the lock back.
Where the metadata says how to reach the host over ssh, the host is a real sshd on loopback, so a task that runs
there proves that the metadata's connection variables were used (``ansible-playbook -c local`` would run it here).
"""

import getpass
import json
import os
import subprocess

import yaml

from support.concourse import BUILD, concourse_out, make_concourse_repo
from support.modules import PYTHON, ROOT, _ansible_env, run_playbook
from support.repos import head, last_message, make_lock_repo, pool_state
from support.ssh_server import make_key

# Run on each reserved host: what it sees there, written there (a file per host under its own variable workdir).
RECORD = {'name': 'Record what the reserved host sees', 'ansible.builtin.copy': {
    'dest': '{{ workdir }}/{{ inventory_hostname }}.json',
    'content': '{{ {"host": inventory_hostname, "lock": lockpool_lock, "groups": group_names,'
               ' "ansible_host": ansible_host | default(none), "region": region | default(none),'
               ' "owner": owner | default(none), "url": url | default(none), "note": note | default(none),'
               ' "ssh": ssh.stdout | default(none)} | to_json }}'}}
SSH_CONNECTION = {'name': 'Say whether this runs over ssh', 'ansible.builtin.command': 'printenv SSH_CONNECTION',
                  'register': 'ssh', 'changed_when': False}


def play(name, hosts, tasks, **more):
    return dict({'name': name, 'hosts': hosts, 'gather_facts': False, 'tasks': tasks}, **more)


def write_playbook(tmp_path, plays):
    path = tmp_path / 'playbook.yml'
    path.write_text(yaml.safe_dump(plays, sort_keys=False))
    return path


def records(tmp_path):
    return dict((path[:-len('.json')], json.loads((tmp_path / 'work' / path).read_text()))
                for path in sorted(os.listdir(str(tmp_path / 'work'))))


def role_vars(repo, tmp_path, **more):
    return dict({'with_lock_repo': repo, 'with_lock_cache_dir': str(tmp_path / 'cache'), 'with_lock_pool': 'aws'}, **more)


def include_role(tasks_from, variables):
    return {'name': 'The role, %s' % tasks_from,
            'ansible.builtin.include_role': {'name': 'lockpool.git.with_lock', 'tasks_from': tasks_from},
            'vars': variables}


def lock_tasks(repo, tmp_path):
    return {'repo': repo, 'cache_dir': str(tmp_path / 'cache'), 'pool': 'aws', 'holder': 'tests'}


def ssh_metadata(ssh_server, tmp_path):
    """Metadata that says how to reach the environment: the test sshd, as this user, with a key it trusts."""
    key = make_key(tmp_path / 'env_key')
    ssh_server.authorize(key + '.pub')
    known_hosts = tmp_path / 'known_hosts'
    known_hosts.write_text(ssh_server.known_hosts)
    return yaml.safe_dump({
        'host': '127.0.0.1', 'ansible_port': ssh_server.port, 'ansible_user': getpass.getuser(),
        'ansible_connection': 'ssh', 'ansible_ssh_private_key_file': key,
        'ansible_ssh_common_args': '-o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes' % known_hosts,
        'region': 'eu-west-1', 'workdir': str(tmp_path / 'work')})


def test_the_docs_playbook_works_on_the_reserved_environment_and_gives_it_back(tmp_path):
    with open(os.path.join(ROOT, 'docs', 'reserved-environments.md')) as handle:
        text = handle.read()
    (tmp_path / 'reserve-and-work.yml').write_text(text.split('```yaml reserve-and-work.yml\n', 1)[1].split('```', 1)[0])
    repo = make_lock_repo(tmp_path / 'locks.git', {'aws': {'env-1': yaml.safe_dump({
        'ansible_host': '127.0.0.1', 'ansible_connection': 'local', 'url': 'https://env-1.example.com'})}})
    completed = run_playbook(tmp_path / 'reserve-and-work.yml', {'lock_repo': repo},
                             env={'LOCKPOOL_CACHE_DIR': str(tmp_path / 'cache')})
    assert completed.returncode == 0, completed.stdout
    assert '"msg": "deploying https://env-1.example.com on env-1 at 127.0.0.1"' in completed.stdout
    assert 'ok: [env-1]' in completed.stdout  # its facts, gathered on it
    assert pool_state(repo, 'aws') == {'claimed': [], 'unclaimed': ['env-1']}
    assert 'Lock-Holder: nightly-deploy' in last_message(repo).splitlines()


def test_the_role_adds_the_held_environment_and_the_next_play_reaches_it_with_its_metadata(tmp_path, ssh_server):
    repo = make_lock_repo(tmp_path / 'locks.git', {'aws': {'env-1': ssh_metadata(ssh_server, tmp_path)}})
    (tmp_path / 'work').mkdir()
    playbook = write_playbook(tmp_path, [
        play('Reserve', 'localhost', [include_role('acquire', role_vars(repo, tmp_path, with_lock_add_host=True))]),
        play('Work on the environment reserved', 'reserved', [SSH_CONNECTION, RECORD]),
        play('Give it back', 'localhost', [include_role('release', role_vars(repo, tmp_path))]),
    ])
    completed = run_playbook(playbook)
    assert completed.returncode == 0, completed.stdout
    seen = records(tmp_path)
    assert list(seen) == ['env-1']
    assert seen['env-1']['ssh'].split()[0] == '127.0.0.1'  # ran over ssh, on the metadata's host and port
    assert seen['env-1']['ssh'].split()[-1] == str(ssh_server.port)
    assert (seen['env-1']['ansible_host'], seen['env-1']['region']) == ('127.0.0.1', 'eu-west-1')
    lock = seen['env-1']['lock']
    assert (lock['name'], lock['pool'], type(lock['token'])) == ('env-1', 'aws', int)
    assert lock['holder'].split(' ', 1)[1].startswith('play Reserve run ')
    assert seen['env-1']['groups'] == ['reserved']
    assert pool_state(repo, 'aws') == {'claimed': [], 'unclaimed': ['env-1']}


def test_the_roles_caller_tasks_reach_the_environment_by_delegating_to_it(tmp_path, ssh_server):
    repo = make_lock_repo(tmp_path / 'locks.git', {'aws': {'env-1': ssh_metadata(ssh_server, tmp_path)}})
    caller_tasks = tmp_path / 'deploy.yml'
    caller_tasks.write_text(yaml.safe_dump([dict(SSH_CONNECTION, delegate_to='{{ with_lock_held.name }}'), {
        'name': 'Record it', 'ansible.builtin.copy': {'dest': str(tmp_path / 'ssh.txt'), 'content': '{{ ssh.stdout }}'}}]))
    playbook = write_playbook(tmp_path, [play('Deploy', 'localhost', [{
        'name': 'The role', 'ansible.builtin.include_role': {'name': 'lockpool.git.with_lock'},
        'vars': role_vars(repo, tmp_path, with_lock_add_host=True, with_lock_tasks=str(caller_tasks))}])])
    completed = run_playbook(playbook)
    assert completed.returncode == 0, completed.stdout
    connection = (tmp_path / 'ssh.txt').read_text().split()
    assert (connection[0], connection[-1]) == ('127.0.0.1', str(ssh_server.port))
    assert pool_state(repo, 'aws') == {'claimed': [], 'unclaimed': ['env-1']}


def test_without_with_lock_add_host_the_role_adds_no_host(tmp_path):
    repo = make_lock_repo(tmp_path / 'locks.git', {'aws': {'env-1': 'host: 10.0.3.7\n'}})
    playbook = write_playbook(tmp_path, [
        play('Reserve', 'localhost', [include_role('acquire', role_vars(repo, tmp_path)), {
            'name': 'Record the inventory', 'ansible.builtin.copy': {
                'dest': str(tmp_path / 'hosts.json'), 'content': '{{ groups | to_json }}'}},
            include_role('release', role_vars(repo, tmp_path))])])
    completed = run_playbook(playbook)
    assert completed.returncode == 0, completed.stdout
    assert json.loads((tmp_path / 'hosts.json').read_text()) == {'all': ['localhost'], 'ungrouped': ['localhost']}


def test_a_claim_of_two_locks_adds_two_hosts_each_with_its_own_metadata(tmp_path):
    work = tmp_path / 'work'
    work.mkdir()
    repo = make_lock_repo(tmp_path / 'locks.git', {'aws': dict(
        ('env-%d' % n, yaml.safe_dump({'region': 'region-%d' % n, 'workdir': str(work)})) for n in (1, 2, 3))})
    playbook = write_playbook(tmp_path, [
        play('Reserve two', 'localhost', [
            {'name': 'Claim two', 'lockpool.git.pool_lock': dict(lock_tasks(repo, tmp_path), count=2), 'register': 'envs'},
            {'name': 'Add each', 'lockpool.git.reserved_host': {'lock': '{{ item }}'}, 'loop': '{{ envs.locks }}'}]),
        play('Work on both', 'reserved', [RECORD]),
        play('Give them back', 'localhost', [{
            'name': 'Release', 'lockpool.git.pool_lock': dict(lock_tasks(repo, tmp_path), state='released',
                                                              name="{{ envs.locks | map(attribute='name') }}")}]),
    ])
    completed = run_playbook(playbook)
    assert completed.returncode == 0, completed.stdout
    seen = records(tmp_path)
    assert len(seen) == 2
    for host, record in seen.items():
        assert record['lock']['name'] == host
        assert record['region'] == 'region-' + host[-1]
        assert record['groups'] == ['reserved']
        assert isinstance(record['lock']['token'], int)
    assert pool_state(repo, 'aws') == {'claimed': [], 'unclaimed': ['env-1', 'env-2', 'env-3']}


def test_an_inventory_host_named_like_the_lock_keeps_its_own_variables(tmp_path):
    work = tmp_path / 'work'
    work.mkdir()
    repo = make_lock_repo(tmp_path / 'locks.git', {'aws': {'env-1': yaml.safe_dump({
        'host': '10.0.3.7', 'region': 'from-metadata', 'url': 'https://env-1.example', 'workdir': str(work)})}})
    inventory = tmp_path / 'inventory.yml'
    inventory.write_text(yaml.safe_dump({'all': {'hosts': {'localhost': None, 'env-1': {
        'ansible_host': '10.9.9.9', 'region': 'from-inventory', 'owner': 'team-a', 'workdir': str(work)}}}}))
    playbook = write_playbook(tmp_path, [
        play('Reserve', 'localhost', [
            {'name': 'Claim', 'lockpool.git.pool_lock': dict(lock_tasks(repo, tmp_path), name='env-1'), 'register': 'env'},
            {'name': 'Add it', 'lockpool.git.reserved_host': {'lock': '{{ env.lock }}'}}]),
        play('Work on it', 'reserved', [RECORD]),
    ])
    command = [os.path.join(os.path.dirname(PYTHON), 'ansible-playbook'), '-i', str(inventory), '-c', 'local',
               '-e', 'ansible_python_interpreter=%s' % PYTHON, str(playbook)]
    completed = subprocess.run(command, capture_output=True, text=True, env=_ansible_env(), timeout=300, check=False)
    assert completed.returncode == 0, completed.stdout
    record = records(tmp_path)['env-1']
    assert (record['ansible_host'], record['region'], record['owner']) == ('10.9.9.9', 'from-inventory', 'team-a')
    assert record['url'] is None
    assert (record['lock']['name'], record['lock']['data']['url']) == ('env-1', 'https://env-1.example')
    assert record['groups'] == ['reserved']


def test_a_lock_concourse_claimed_joins_the_play_with_the_metadata_concourse_wrote(tmp_path):
    work = tmp_path / 'work'
    work.mkdir()
    metadata = json.dumps({'host': '10.0.3.7', 'region': 'eu-west-1', 'workdir': str(work)})
    repo = make_concourse_repo(tmp_path / 'locks.git', {'aws': {'env-1': metadata, 'env-2': metadata}})
    concourse_out(repo, 'claim', 'aws', 'env-1')
    before = head(repo)
    playbook = write_playbook(tmp_path, [
        play('Find what Concourse holds', 'localhost', [
            {'name': 'Read the pool', 'lockpool.git.pool_lock_info': {
                'repo': repo, 'cache_dir': str(tmp_path / 'cache'), 'pool': 'aws'}, 'register': 'info'},
            {'name': 'Add each claimed lock', 'lockpool.git.reserved_host': {'lock': '{{ item }}', 'groups': ['held']},
             'loop': "{{ info.pools.aws.locks | selectattr('state', 'eq', 'claimed') }}"}]),
        play('Look at it', 'held', [RECORD]),
    ])
    completed = run_playbook(playbook)
    assert completed.returncode == 0, completed.stdout
    record = records(tmp_path)['env-1']
    assert list(records(tmp_path)) == ['env-1']
    assert (record['lock']['holder'], record['lock']['token']) == (BUILD, None)
    assert (record['ansible_host'], record['region'], record['groups']) == ('10.0.3.7', 'eu-west-1', ['held'])
    assert record['lock']['metadata'] == metadata
    assert head(repo) == before


def test_a_template_in_the_metadata_stays_text_on_the_host(tmp_path):
    work = tmp_path / 'work'
    work.mkdir()
    repo = make_lock_repo(tmp_path / 'locks.git', {'aws': {'env-1': yaml.safe_dump({
        'note': "{{ lookup('ansible.builtin.pipe', 'touch %s') }}" % (tmp_path / 'ran'), 'workdir': str(work)})}})
    playbook = write_playbook(tmp_path, [
        play('Reserve', 'localhost', [
            {'name': 'Claim', 'lockpool.git.pool_lock': lock_tasks(repo, tmp_path), 'register': 'env'},
            {'name': 'Add it', 'lockpool.git.reserved_host': {'lock': '{{ env.lock }}'}}]),
        play('Work on it', 'reserved', [RECORD]),
    ])
    completed = run_playbook(playbook)
    assert completed.returncode == 0, completed.stdout
    assert records(tmp_path)['env-1']['note'] == "{{ lookup('ansible.builtin.pipe', 'touch %s') }}" % (tmp_path / 'ran')
    assert not (tmp_path / 'ran').exists()
