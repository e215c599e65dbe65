"""pool_status_page and the lockpool.git.status_page playbook against a real repository, the page looked at in a real
browser: headless Chromium (Debian's ``chromium``) renders it, and the test reads the DOM it built."""

import os
import shutil
import subprocess
import time

import pytest

from support.html_elements import Elements
from support.modules import run_module, run_playbook, start_module
from support.repos import git, head, make_lock_repo

QUEUE = 'refs/lockpool/queue/main/gpu/'
HOLDER = 'O\'Brien "the builder" & co'


def chromium(*args):
    binary = shutil.which('chromium')
    if binary is None:
        pytest.fail('chromium is missing: install the Debian package chromium (make system-packages installs it)')
    completed = subprocess.run([binary, '--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', *args],
                               capture_output=True, text=True, timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def rendered_dom(path):
    return chromium('--dump-dom', 'file://' + str(path))


def wait_until(condition, timeout=60):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, 'condition not met within %ss' % timeout
        time.sleep(0.1)


@pytest.fixture
def claimed_repo(tmp_path, cache_dir):
    """Pool aws: env-1 claimed by a holder with quotes (team platform, 30 min lease), env-2 free (claimed and released
    by bob), env-3 released dirty by erin, a lock named ``<script>`` free; pool gpu: g-1 claimed by carol."""
    repo = make_lock_repo(tmp_path / 'locks.git', {'aws': {'env-1': 'region: eu-west-1\n', 'env-2': '', 'env-3': '',
                                                           '<script>': '</pre><script>x</script>'},
                                                   'gpu': {'g-1': ''}})
    common = {'repo': repo, 'cache_dir': cache_dir}
    assert run_module('pool_lock', dict(common, pool='aws', name='env-1', holder=HOLDER, team='platform', lease='30m'))['changed']
    assert run_module('pool_lock', dict(common, pool='aws', name='env-2', holder='bob'))['changed']
    assert run_module('pool_lock', dict(common, pool='aws', name='env-2', holder='bob', state='released'))['changed']
    assert run_module('pool_lock', dict(common, pool='gpu', name='g-1', holder='carol'))['changed']
    assert run_module('pool_lock', dict(common, pool='aws', name='env-3', holder='erin'))['changed']
    assert run_module('pool_lock', dict(common, pool='aws', name='env-3', holder='erin', state='released', dirty=True,
                                        dirty_reason='smoke tests failed'))['lock']['state'] == 'dirty'
    return repo


@pytest.fixture
def busy_repo(claimed_repo, tmp_path):
    """claimed_repo, and a fair claimer (dave) waiting in gpu's queue for g-1."""
    repo = claimed_repo
    waiter = start_module('pool_lock', {'repo': repo, 'cache_dir': str(tmp_path / 'waiter'), 'pool': 'gpu', 'holder': 'dave',
                                        'fair': True, 'timeout': '90s', 'retry_delay': '1s'})
    wait_until(lambda: git('for-each-ref', '--format=%(refname)', QUEUE, cwd=repo).split())
    yield repo
    waiter.process.terminate()  # SIGTERM: the waiter stops its wait and removes its ticket
    waiter.result(timeout=60)


def test_the_browser_shows_each_lock_the_queue_and_the_charts(busy_repo, cache_dir, tmp_path):
    dest = tmp_path / 'status.html'
    result = run_module('pool_status_page', {'repo': busy_repo, 'cache_dir': cache_dir, 'dest': str(dest)})
    assert result['changed'] and result['commit'] == head(busy_repo) and result['pools'] == ['aws', 'gpu']
    shown = Elements(rendered_dom(dest))
    tag, attrs, text = shown.lock(pool='aws', name='env-1')
    assert attrs['data-state'] == 'claimed'
    assert HOLDER in text and 'platform' in text and 'held for' in text and 'min left' in text
    tag, attrs, text = shown.lock(pool='aws', name='env-2')
    assert attrs['data-state'] == 'unclaimed' and 'free since' in text and 'bob' in text
    assert shown.lock(pool='aws', name='<script>')[1]['data-state'] == 'unclaimed'
    tag, attrs, text = shown.lock(pool='aws', name='env-3')
    assert attrs['data-state'] == 'dirty' and 'erin' in text and 'smoke tests failed' in text and 'dirty for' in text
    assert shown.lock(pool='gpu', name='g-1')[1]['data-state'] == 'claimed' and 'carol' in shown.lock(pool='gpu', name='g-1')[2]
    assert [element[2] for element in shown.found if 'data-ticket' in element[1]][0].startswith('#1 wants 1 lock')
    assert [element[0] for element in shown.found if element[0] == 'script'] == []
    assert len([element for element in shown.found if element[0] == 'rect']) == 2 * 24


def test_screenshots_at_phone_and_desktop_sizes(busy_repo, cache_dir, tmp_path):
    dest = tmp_path / 'status.html'
    run_module('pool_status_page', {'repo': busy_repo, 'cache_dir': cache_dir, 'dest': str(dest), 'title': 'Test environments'})
    # LOCKPOOL_SCREENSHOTS=dir keeps the pictures for a person to look at
    pictures = os.environ.get('LOCKPOOL_SCREENSHOTS') or str(tmp_path)
    for size, name in (('375,1400', 'phone.png'), ('1280,1000', 'desktop.png')):
        chromium('--window-size=' + size, '--screenshot=' + os.path.join(pictures, name), 'file://' + str(dest))
        with open(os.path.join(pictures, name), 'rb') as picture:
            assert picture.read(8) == b'\x89PNG\r\n\x1a\n'


def test_the_page_is_left_as_it_is_when_only_time_passed(claimed_repo, cache_dir, tmp_path):
    dest = tmp_path / 'status.html'
    args = {'repo': claimed_repo, 'cache_dir': cache_dir, 'dest': str(dest), 'pools': ['aws']}
    first = run_module('pool_status_page', args)
    written = dest.read_text()
    time.sleep(1.1)
    again = run_module('pool_status_page', args)
    assert (first['changed'], again['changed']) == (True, False)
    assert again['generated_at'] == first['generated_at'] and dest.read_text() == written


def test_a_release_changes_the_page_and_check_mode_writes_nothing(claimed_repo, cache_dir, tmp_path):
    dest = tmp_path / 'status.html'
    args = {'repo': claimed_repo, 'cache_dir': cache_dir, 'dest': str(dest), 'pools': ['aws']}
    run_module('pool_status_page', args)
    written = dest.read_text()
    run_module('pool_lock', {'repo': claimed_repo, 'cache_dir': cache_dir, 'pool': 'aws', 'name': 'env-1', 'holder': HOLDER,
                             'state': 'released'})
    checked = run_module('pool_status_page', args, check_mode=True, diff=True)
    assert checked['changed'] and dest.read_text() == written
    assert checked['diff']['before'] == written and 'data-lock="env-1" data-state="unclaimed"' in checked['diff']['after']
    assert run_module('pool_status_page', args)['changed'] and dest.read_text() != written


def test_a_pool_that_does_not_exist_fails_and_writes_nothing(claimed_repo, cache_dir, tmp_path):
    dest = tmp_path / 'status.html'
    result = run_module('pool_status_page', {'repo': claimed_repo, 'cache_dir': cache_dir, 'dest': str(dest), 'pools': ['nope']})
    assert result['failed'] and 'nope' in result['msg'] and not dest.exists()


def test_the_shipped_playbook_writes_the_page(busy_repo, cache_dir, tmp_path):
    dest = tmp_path / 'public' / 'index.html'
    dest.parent.mkdir()
    completed = run_playbook('lockpool.git.status_page', {'with_lock_repo': busy_repo, 'with_lock_cache_dir': cache_dir,
                                                          'status_page_dest': str(dest), 'status_page_pools': ['gpu'],
                                                          'status_page_title': 'GPUs', 'status_page_mode': '0644'})
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert oct(dest.stat().st_mode & 0o777) == '0o644'
    shown = Elements(rendered_dom(dest))
    assert next(element[2] for element in shown.found if element[0] == 'h1') == 'GPUs'
    assert [element[1]['data-pool'] for element in shown.found if 'data-pool' in element[1]] == ['gpu']
