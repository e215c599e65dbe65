"""The fake git layer keeps the promises of the real one that the logic's tests rely on."""

import pytest

from ansible_collections.lockpool.git.plugins.module_utils._errors import RepositoryError
from ansible_collections.lockpool.git.plugins.module_utils._git_objects import TreeEntry
from ansible_collections.lockpool.git.plugins.module_utils._trees import TREE_MODE
from ansible_collections.lockpool.git.tests.unit.fakes.fake_git import FILE_MODE, FakeClock, FakeRepoCache, FakeServer


@pytest.fixture
def server():
    made = FakeServer(FakeClock())
    made.commit({'p/claimed/.gitkeep': b'', 'p/unclaimed/a': b'A', 'p/unclaimed/b': b'B'}, 'set up\n')
    return made


@pytest.fixture
def cache(server):
    made = FakeRepoCache(server)
    with made.exclusive():
        made.fetch()
    return made


def test_tree_entries_are_in_gits_order_with_directories_as_trees(cache):
    entries = cache.tree_entries(cache.root_tree(cache.local_head()))
    assert [(entry.mode, entry.name) for entry in entries] == [(TREE_MODE, 'p')]
    assert all(isinstance(entry, TreeEntry) for entry in entries)


def test_a_directory_left_empty_disappears(cache):
    sha = cache.write_commit(cache.local_head(), {'p/claimed/.gitkeep': None}, 'remove\n', 'me')
    pool = cache.tree_entries(cache.root_tree(sha))[0]
    assert [entry.name for entry in cache.tree_entries(pool.sha)] == ['unclaimed']


def test_a_root_commit_is_made_on_no_base_and_adds_its_files(cache):
    sha = cache.write_commit(None, {'x/y': (FILE_MODE, cache.store_blob(b'data'))}, 'root\n', 'me')
    assert [commit.changes for commit in cache.history(sha)] == [(('A', 'x/y'),)]


def test_history_is_newest_first_limited_to_the_paths_and_under_a_directory(cache, server):
    server.move('p/unclaimed/a', 'p/claimed/a', 'claiming: a\n')
    server.commit({}, 'no file changed\n')
    with cache.exclusive():
        head = cache.fetch()
    walk = list(cache.history(head, ['p/claimed/']))
    assert [commit.message for commit in walk] == ['claiming: a\n', 'set up\n']
    assert walk[0].changes == (('A', 'p/claimed/a'),)
    assert [commit.changes for commit in cache.history(head, ['p/unclaimed/a'], added_only=True)] == [(('A', 'p/unclaimed/a'),)]
    assert len(list(cache.history(head))) == 3  # no path: every commit, one changing no file too


def test_newest_commit_reads_a_range_and_greps_each_line(cache, server):
    first = server.commit({}, 'renewing: a\n\nLease: p/a 1\n')
    second = server.commit({}, 'renewing: a\n\nLease: p/a 2\nOther: x\n')
    with cache.exclusive():
        head = cache.fetch()
    assert cache.newest_commit([head], (), '^Lease: p/a [^ ]+$').sha == second
    assert cache.newest_commit(['%s..%s' % (first, head)], (), '^Lease: p/a 1$') is None
    assert cache.newest_commit([head], (), '^Lease: p/a 2.Other') is None  # a line, not the message
    assert cache.added_by(head, 'p/unclaimed/a').message == 'set up\n'


def test_a_push_that_is_not_a_fast_forward_loses_and_changes_nothing(cache, server):
    sha = cache.write_commit(cache.local_head(), {}, 'mine\n', 'me')
    winner = server.commit({}, 'theirs\n')
    with cache.exclusive():
        assert cache.push(sha) is False
    assert server.head == winner and cache.local_head() != sha and cache.announced() is None


def test_a_push_lands_with_its_refs_and_is_announced(cache, server):
    server.refs['refs/q/old'] = server.head
    sha = cache.write_commit(cache.local_head(), {}, 'mine\n', 'me')
    with cache.exclusive():
        assert cache.push(sha, [':refs/q/old', '%s:refs/q/new' % sha])
    assert server.head == cache.local_head() == cache.announced() == sha
    assert sorted(cache.remote_refs('refs/q/')) == ['refs/q/new']


def test_fetch_of_an_empty_repository_says_none_and_of_a_missing_branch_fails():
    empty = FakeServer(FakeClock())
    cache = FakeRepoCache(empty)
    with cache.exclusive():
        assert cache.fetch() is None
        empty.refs['refs/heads/other'] = 'x' * 40
        with pytest.raises(RepositoryError, match="branch 'master' does not exist"):
            cache.fetch()


def test_the_rules_of_the_cache_lock_are_enforced(cache):
    with pytest.raises(AssertionError, match='without exclusive'):
        cache.fetch()
    with pytest.raises(AssertionError, match='deadlock'):
        with cache.exclusive():
            with cache.exclusive():
                pass


def test_a_wait_returns_false_at_its_deadline(cache, server):
    clock = server.clock
    deadline = clock() + 25
    assert cache.wait_for_change(server.head, 10, deadline) is False and clock() == deadline


def test_a_wait_sees_the_server_move_at_its_next_look_and_fetches_it(cache, server):
    clock = server.clock
    known, started = server.head, clock()
    clock.call_after(12, lambda: server.commit({}, 'moved\n'))
    assert cache.wait_for_change(known, 10, None) is True and clock() == started + 20
    assert cache.local_head() == server.head and server.requests['fetch'] == 2


def test_the_runs_of_one_machine_share_a_view_of_the_server_until_it_is_too_old_or_a_push_is_announced(cache, server):
    other = FakeRepoCache(server, machine=cache.machine)
    cache.remote_head(max_age=5)
    other.remote_head(max_age=5)
    assert server.requests['ls-remote'] == 1
    server.clock.advance(5)
    other.remote_head(max_age=5)
    assert server.requests['ls-remote'] == 2
    with other.exclusive():
        other.push(other.write_commit(other.local_head(), {}, 'here\n', 'me'))
    assert cache.remote_head(max_age=5) == server.head and server.requests['ls-remote'] == 3


def test_refs_under_the_watched_prefix_come_with_each_look_at_the_branch(cache, server):
    server.refs['refs/q/a'] = server.head
    cache.watch('refs/q/')
    cache.remote_head(max_age=5)
    assert cache.remote_refs('refs/q/a', max_age=5) == {'refs/q/a': server.head} and server.requests['ls-remote'] == 1


def test_a_wait_returns_true_as_soon_as_this_machine_announces_a_push(cache, server):
    clock = server.clock
    other = FakeRepoCache(server, machine=cache.machine)

    def push():
        with other.exclusive():
            other.push(other.write_commit(other.local_head(), {}, 'here\n', 'me'))
    clock.call_after(3, push)
    started = clock()
    assert cache.wait_for_change(cache.local_head(), 10, None) is True and clock() == started + 3
