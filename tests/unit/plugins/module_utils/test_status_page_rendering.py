"""The status page (_status_page) rendered from plain data shaped as pool_lock_info returns it."""

from ansible_collections.lockpool.git.plugins.module_utils._status_page import (
    busy_buckets,
    duration_text,
    page_time,
    render_page,
)
from ansible_collections.lockpool.git.plugins.module_utils._timestamps import utc_text
from support.html_elements import Elements

NOW = 1800000000  # 2027-01-15T08:00:00Z


def lock(name, state, **fields):
    found = dict(name=name, pool='aws', state=state, metadata='', data=None, holder=None, team=None, claimed_at=None,
                 age=None, commit=None, token=None, expires_at=None, expired=False)
    found.update(fields)
    return found


def event(seconds_ago, operation, name, holder='bob', pool='aws'):
    return dict(commit='c0ffee', time=utc_text(NOW - seconds_ago), operation=operation, pool=pool, lock=name,
                holder=holder, team=None, message='%s: %s' % (operation, name))


def pool(*locks, queue=(), problems=()):
    return dict(available=0, claimed=0, locks=list(locks), queue=list(queue), problems=list(problems))


def page(pools, events=(), now=NOW, history=10):
    return render_page(pools, list(events), now, 'Lock pools', 'https://git.example.com/locks.git', 'main', 'ab' * 20, history)


def test_a_claimed_lock_shows_its_holder_team_age_and_lease_left():
    shown = Elements(page({'aws': pool(lock('env-1', 'claimed', holder='alice', team='platform',
                                            claimed_at=utc_text(NOW - 725), expires_at=utc_text(NOW + 1100)))}))
    tag, attrs, text = shown.lock('env-1')
    assert attrs['data-state'] == 'claimed'
    assert 'alice' in text and 'platform' in text
    assert '12 min' in text and '18 min left' in text


def test_a_lease_that_ran_out_is_shown_expired():
    text = Elements(page({'aws': pool(lock('env-1', 'claimed', holder='alice', claimed_at=utc_text(NOW - 900),
                                           expires_at=utc_text(NOW - 60), expired=True))})).lock('env-1')[2]
    assert 'lease expired' in text and 'left' not in text


def test_a_dirty_lock_shows_who_left_it_dirty_and_why():
    tag, attrs, text = Elements(page({'aws': pool(lock('env-3', 'dirty', dirty_by='carol', dirty_reason='disk full'))})).lock('env-3')
    assert attrs['data-state'] == 'dirty'
    assert 'dirty' in text and 'carol' in text and 'disk full' in text


def test_a_dirty_lock_shows_since_when_its_job_and_who_resets_it():
    text = Elements(page({'aws': pool(lock('env-3', 'dirty', holder='fixer', dirty_by='carol', dirty_job='awx 42',
                                           dirty_at=utc_text(NOW - 725), resetting=True))})).lock('env-3')[2]
    assert '12 min' in text and 'awx 42' in text and 'reset by' in text and 'fixer' in text


def test_the_legend_names_every_state():
    legend = next(element for element in Elements(page({})).found if element[1].get('class') == 'legend')[2]
    for state in ('free', 'claimed', 'dirty', 'lease expired'):
        assert state in legend


def test_a_free_lock_says_since_when_when_the_events_read_say_it():
    text = Elements(page({'aws': pool(lock('env-2', 'unclaimed'))}, [event(600, 'release', 'env-2')])).lock('env-2')[2]
    assert 'free since' in text and '07:50' in text and 'bob' in text


def test_the_queue_lists_each_waiter_in_order():
    waiters = [dict(position=1, ticket='aaa111', arrived_at=utc_text(NOW - 95), wanted=1, expires_at=utc_text(NOW + 60)),
               dict(position=2, ticket='bbb222', arrived_at=utc_text(NOW - 30), wanted=2, expires_at=utc_text(NOW + 60))]
    shown = Elements(page({'gpu': pool(lock('g-1', 'claimed'), queue=waiters)}))
    tickets = [element for element in shown.found if 'data-ticket' in element[1]]
    assert [(attrs['data-ticket'], '1 min' in text, 'wants 2 locks' in text) for _tag, attrs, text in tickets] == [
        ('aaa111', True, False), ('bbb222', False, True)]


def test_text_from_the_repository_is_escaped_and_the_page_has_no_script():
    hostile = lock('<script>', 'claimed', holder='O\'Brien "&" <b>co</b>', team='"><img src=x>',
                   metadata='</pre><script>alert(1)</script>', claimed_at=utc_text(NOW - 5))
    text = page({'<svg onload=x>': pool(hostile)}, [event(5, 'claim', '<script>', pool='<svg onload=x>')])
    shown = Elements(text)
    assert [element[0] for element in shown.found if element[0] in ('script', 'img')] == []
    assert [element for element in shown.found if element[0] == 'svg' and 'onload' in element[1]] == []
    tag, attrs, inside = shown.lock('<script>')
    assert 'O\'Brien "&" <b>co</b>' in inside and '"><img src=x>' in inside
    assert '&lt;script&gt;' in text


def test_the_page_reads_on_a_phone_and_fetches_nothing():
    text = page({'aws': pool(lock('env-1', 'unclaimed'))})
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in text
    assert 'src=' not in text and 'href=' not in text and '@import' not in text and 'url(' not in text


def test_a_page_says_the_time_it_speaks_of_and_is_the_same_made_again_for_that_time():
    pools = {'aws': pool(lock('env-1', 'claimed', holder='alice', claimed_at=utc_text(NOW - 725)))}
    made = page(pools, now=NOW + 0.7)
    assert page_time(made) == NOW
    assert page(pools, now=page_time(made)) == made
    assert page(pools, now=NOW + 120) != made
    assert page_time('<html>someone else\'s page</html>') is None


def test_busy_share_per_step_follows_claims_and_releases():
    # env-1 claimed during the second half of the window; env-2 free throughout: 0% then 50%.
    locks = [lock('env-1', 'claimed'), lock('env-2', 'unclaimed')]
    assert busy_buckets(locks, [event(500, 'claim', 'env-1')], (NOW - 1000, NOW), buckets=2) == [0.0, 0.5]


def test_busy_share_is_read_backwards_from_the_state_now():
    # released 250 s ago after a claim 750 s ago: claimed in the middle half only
    locks = [lock('env-1', 'unclaimed')]
    events = [event(250, 'release', 'env-1'), event(750, 'claim', 'env-1')]
    assert busy_buckets(locks, events, (NOW - 1000, NOW), buckets=4) == [0.0, 1.0, 1.0, 0.0]


def test_a_dirty_lock_counts_as_taken_and_a_step_without_locks_has_no_share():
    assert busy_buckets([lock('env-3', 'dirty')], [], (NOW - 100, NOW), buckets=2) == [1.0, 1.0]
    assert busy_buckets([lock('env-4', 'unclaimed')], [event(50, 'add', 'env-4')], (NOW - 100, NOW), buckets=2) == [None, 0.0]


def test_a_removed_lock_counts_until_its_removal():
    events = [event(50, 'remove', 'env-9'), event(100, 'claim', 'env-9')]
    assert busy_buckets([], events, (NOW - 200, NOW), buckets=4) == [0.0, 0.0, 1.0, None]


def test_the_chart_has_one_bar_per_step_with_its_share():
    text = page({'aws': pool(lock('env-1', 'claimed'), lock('env-2', 'unclaimed'))}, [event(3600, 'claim', 'env-1')])
    bars = [element[1]['data-busy'] for element in Elements(text).found if element[0] == 'rect']
    assert len(bars) == 24 and set(bars) == {'0.50'}


def test_without_events_there_is_no_chart_and_it_says_why():
    text = page({'aws': pool(lock('env-1', 'unclaimed'))}, history=0)
    assert '<svg' not in text and 'No lock events read' in text


def test_durations_read_as_a_person_says_them():
    assert [duration_text(s) for s in (45, 725, 3 * 3600 + 300, 2 * 86400 + 4 * 3600, 86400)] == [
        '45 s', '12 min', '3 h 5 min', '2 d 4 h', '1 d']
