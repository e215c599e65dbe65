# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The status page: one self-contained HTML page of the pools, made from what pool_lock_info returns.

Everything here is a pure function of plain data (the pools of _pool_report.report_pools, the events of
_inventory.read_events) and of ``now``, the time the page speaks of: nothing reads git or the clock. So a page
can be made again for the time an older page says it was made (``page_time``), and the two compared: equal
means nothing but time passed, and the page need not be written (pool_status_page's ``changed``).

Every text that comes from the repository (pool and lock names, holders, teams, metadata, commit subjects) is
written by anyone who can push, so all of it is escaped; the page has no script at all and fetches nothing, and
its layout is one column of cards that reads on a 375 px wide phone.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import time
from html import escape

from ansible_collections.lockpool.git.plugins.module_utils._timestamps import parse_utc, utc_text

# A lock's states as the page shows them. ``dirty`` (released as dirty: not handed out until reset) is drawn
# from the lock's own ``state``, with its ``dirty_reason`` and ``dirty_by`` when the data has them.
FREE, CLAIMED, DIRTY = 'unclaimed', 'claimed', 'dirty'
_ABSENT = 'absent'
_TAKEN = frozenset([CLAIMED, DIRTY])  # what the busy chart counts: locks nobody can claim now
_LABELS = {FREE: 'free', CLAIMED: 'claimed', DIRTY: 'dirty'}

BUCKETS = 24  # bars of a pool's busy chart
_MIN_WINDOW = 60.0  # seconds: a window of events all made in one instant still gets a chart
_EVENTS_SHOWN = 15  # the newest events listed openly; the rest of those read are folded under <details>

# What an event leaves a lock as, and what it found (read backwards from the lock's state now, see busy_buckets).
# An update (or an operation this page does not know) leaves the state as it was.
_AFTER = {'claim': CLAIMED, 'add_claimed': CLAIMED, 'release': FREE, 'add': FREE, 'remove': _ABSENT}
# A remove does not say from which half it took the lock: counted as free before it, the cautious guess.
_BEFORE = {'claim': FREE, 'release': CLAIMED, 'add': _ABSENT, 'add_claimed': _ABSENT, 'remove': FREE}

_GENERATED_META = 'lockpool-generated-at'
_GENERATED = re.compile(r'<meta name="%s" content="([0-9TZ:-]+)">' % _GENERATED_META)


def page_time(html_text):
    """The time (seconds since the epoch) a page made by ``render_page`` speaks of; None for any other text."""
    match = _GENERATED.search(html_text or '')
    return parse_utc(match.group(1)) if match else None


# -- the busy chart -------------------------------------------------------------------

def chart_window(events, now):
    """(start, end) of the time the events read cover: from the oldest of them to ``now``; None without events."""
    times = [parse_utc(event['time']) for event in events]
    times = [moment for moment in times if moment is not None]
    if not times:
        return None
    return min(times + [now - _MIN_WINDOW]), now


def busy_buckets(locks, events, window, buckets=BUCKETS):
    """For each of ``buckets`` equal steps of ``window``: the share of the pool's existing lock-time that was taken
    (claimed or dirty), 0.0 to 1.0, or None for a step in which the pool had no lock.

    ``locks`` are the pool's locks now, ``events`` its events of the window (any order). Each lock's past is read
    backwards from its state now, which is the truth, through its events: after an event the lock is in the state
    the event leaves it in; before its oldest event in the state that event found it in.
    """
    start, end = window
    step = (end - start) / buckets
    taken = [0.0] * buckets
    existing = [0.0] * buckets
    for state, segment_start, segment_end in _lock_segments(locks, events, start, end):
        for index in range(buckets):
            low = start + index * step
            overlap = min(segment_end, low + step) - max(segment_start, low)
            if overlap <= 0 or state == _ABSENT:
                continue
            existing[index] += overlap
            if state in _TAKEN:
                taken[index] += overlap
    return [taken[index] / existing[index] if existing[index] > 0 else None for index in range(buckets)]


def _lock_segments(locks, events, start, end):
    """(state, from, to) spans of each lock's time in [start, end], from its state now and its events."""
    now_state = dict((lock['name'], lock['state']) for lock in locks)
    by_lock = {}
    for event in events:
        moment = parse_utc(event['time'])
        if moment is not None and start <= moment <= end:
            by_lock.setdefault(event['lock'], []).append((moment, event['operation']))
    for name in set(now_state) | set(by_lock):
        changes = sorted(by_lock.get(name, []))
        state = now_state.get(name, _ABSENT)
        segment_end = end
        for index in range(len(changes) - 1, -1, -1):
            moment, operation = changes[index]
            yield state, moment, segment_end
            segment_end = moment
            found = _BEFORE.get(operation, state)  # what this event found the lock in
            # the span before this event is the one the older event left, when that event says what it left
            state = _AFTER.get(changes[index - 1][1], found) if index > 0 else found
        yield state, start, segment_end


# -- text -----------------------------------------------------------------------------

def duration_text(seconds):
    """A span as a person reads it on a phone: ``45 s``, ``12 min``, ``3 h 5 min``, ``2 d 4 h``."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return '%d s' % seconds
    minutes = seconds // 60
    if minutes < 60:
        return '%d min' % minutes
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return '%d h %d min' % (hours, minutes) if minutes else '%d h' % hours
    days, hours = divmod(hours, 24)
    return '%d d %d h' % (days, hours) if hours else '%d d' % days


def moment_text(moment, now):
    """A point in time, UTC, as short as it stays clear next to ``now``: ``09:41``, ``3 May 09:41``, ``2025-12-30 09:41``."""
    shown, today = time.gmtime(moment), time.gmtime(now)
    if shown[:3] == today[:3]:
        return time.strftime('%H:%M', shown)
    if shown.tm_year == today.tm_year:
        return '%d %s' % (shown.tm_mday, time.strftime('%b %H:%M', shown))
    return time.strftime('%Y-%m-%d %H:%M', shown)


def _e(value):
    """Any text from the repository, escaped for an element's content or a quoted attribute."""
    return escape('' if value is None else str(value), quote=True)


def _time(text, now, suffix=''):
    """A <time> element of an ISO 8601 UTC text; the text itself (escaped) when it does not parse."""
    moment = parse_utc(text) if text else None
    if moment is None:
        return _e(text)
    return '<time datetime="%s">%s%s</time>' % (_e(text), moment_text(moment, now), suffix)


def _field(css_class, label, value_html):
    return '<div class="f %s"><dt>%s</dt><dd>%s</dd></div>' % (css_class, label, value_html)


# -- the page -------------------------------------------------------------------------

def render_page(pools, events, now, title, repo, branch, commit, history):
    """The status page, HTML text with its style inline, of ``pools`` ({pool: {locks, problems, queue, ...}} as
    pool_lock_info returns them) and ``events`` (newest first, as pool_lock_info's ``events``), as of ``now``.

    ``repo`` is the repository as it may be shown (its URL without secrets), ``history`` how many events were asked
    for (it says what the charts cover when fewer came).
    """
    now = int(now)  # to the second, as the page records it: made again for that time, it comes out the same
    window = chart_window(events, now)
    parts = [
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n',
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
        '<meta name="generator" content="lockpool.git pool_status_page">\n',
        '<meta name="%s" content="%s">\n' % (_GENERATED_META, utc_text(int(now))),
        '<title>%s</title>\n<style>%s</style>\n</head>\n<body>\n' % (_e(title), _STYLE),
        _header(title, repo, branch, commit, now),
        '<main>\n',
    ]
    if not pools:
        parts.append('<p class="empty">The repository has no pool.</p>\n')
    for name in sorted(pools):
        pool_events = [event for event in events if event['pool'] == name]
        parts.append(_pool(name, pools[name], pool_events, window, now))
    parts.append(_events(events, now, history))
    parts.append('</main>\n<footer>Made by lockpool.git.pool_status_page as of %s UTC. It is written again when what it '
                 'shows changes; times in UTC.</footer>\n</body>\n</html>\n' % _e(utc_text(int(now)).replace('T', ' ')[:-1]))
    return ''.join(parts)


def _header(title, repo, branch, commit, now):
    legend = ''.join('<li><span class="badge s-%s">%s</span> %s</li>' % (css, label, meaning) for css, label, meaning in (
        ('unclaimed', 'free', 'can be claimed'),
        ('claimed', 'claimed', 'held by someone'),
        ('dirty', 'dirty', 'released as dirty: not handed out until reset'),
        ('expired', 'lease expired', 'a claim pool_reap may release'),
    ))
    return ('<header>\n<h1>%s</h1>\n<p class="where"><span class="repo">%s</span> <span class="branch">%s</span> '
            'at <code class="commit">%s</code><br>as of <time class="generated" datetime="%s">%s UTC</time></p>\n'
            '<ul class="legend">%s</ul>\n</header>\n'
            % (_e(title), _e(repo), _e(branch), _e((commit or '')[:12]), utc_text(int(now)),
               time.strftime('%Y-%m-%d %H:%M', time.gmtime(now)), legend))


def _pool(name, pool, events, window, now):
    locks = pool.get('locks', [])
    counts = dict((state, sum(1 for lock in locks if lock['state'] == state)) for state in _LABELS)
    summary = ' · '.join('<span class="n-%s">%d %s</span>' % (state, counts[state], _LABELS[state])
                         for state in (FREE, CLAIMED, DIRTY) if counts[state] or state != DIRTY)
    queue = pool.get('queue') or []
    if queue:
        summary += ' · <span class="n-waiting">%d waiting</span>' % len(queue)
    parts = ['<section class="pool" data-pool="%s">\n<h2><span class="pool-name">%s</span> <small>%s</small></h2>\n'
             % (_e(name), _e(name), summary)]
    if pool.get('problems'):
        parts.append('<ul class="problems">%s</ul>\n' % ''.join('<li>%s</li>' % _e(problem) for problem in pool['problems']))
    parts.append('<ul class="locks">\n%s</ul>\n' % ''.join(_lock(lock, events, now) for lock in locks)
                 if locks else '<p class="empty">No locks.</p>\n')
    parts.append(_queue(queue, now))
    parts.append(_chart(locks, events, window, now))
    parts.append('</section>\n')
    return ''.join(parts)


def _lock(lock, events, now):
    state = lock['state']
    expired = state == CLAIMED and _lease_expired(lock, now)
    css = 'lock s-%s%s' % (_e(state), ' expired' if expired else '')
    fields = []
    if state == CLAIMED:
        fields.append(_field('holder', 'holder', _e(lock.get('holder') or 'unknown')))
        if lock.get('team'):
            fields.append(_field('team', 'team', _e(lock['team'])))
        fields += _since('age', 'held for', lock.get('claimed_at'), now)
        fields.append(_field('lease', 'lease', _lease(lock, now, expired)))
    elif state == DIRTY:
        by = lock.get('dirty_by') or lock.get('holder')
        fields.append(_field('dirty-by', 'dirty by', _e(by or 'unknown')))
        if lock.get('dirty_reason'):
            fields.append(_field('dirty-reason', 'why', _e(lock['dirty_reason'])))
        if lock.get('dirty_job'):
            fields.append(_field('dirty-job', 'job', _e(lock['dirty_job'])))
        fields += _since('dirty-since', 'dirty for', lock.get('dirty_at'), now)
        if lock.get('resetting'):
            fields.append(_field('resetting', 'reset by', _e(lock.get('holder') or 'unknown')))
        team = lock.get('dirty_team') or lock.get('team')
        if team:
            fields.append(_field('team', 'team', _e(team)))
    elif state == FREE:
        released = _last_event(lock['name'], events, ('release', 'add'))
        if released is not None:
            fields.append(_field('since', 'free since', _time(released['time'], now) + _by(released)))
    if lock.get('metadata'):
        fields.append('<details class="metadata"><summary>metadata</summary><pre>%s</pre></details>' % _e(lock['metadata']))
    badge = 'lease expired' if expired else _LABELS.get(state, state)
    return ('<li class="%s" data-lock="%s" data-state="%s">\n<div class="head"><span class="name">%s</span> '
            '<span class="badge s-%s">%s</span></div>\n<dl>%s</dl>\n</li>\n'
            % (css, _e(lock['name']), _e(state), _e(lock['name']), 'expired' if expired else _e(state), _e(badge),
               ''.join(fields)))


def _since(key, label, moment, now):
    """The field saying how long a lock has been so since ``moment`` (ISO 8601 text), or none without one."""
    when = parse_utc(moment or '')
    if when is None:
        return []
    return [_field(key, label, '%s <small>since %s</small>' % (duration_text(now - when), _time(moment, now)))]


def _lease_expired(lock, now):
    if lock.get('expired'):
        return True
    expires = parse_utc(lock.get('expires_at') or '')
    return expires is not None and expires <= now


def _lease(lock, now, expired):
    expires = parse_utc(lock.get('expires_at') or '')
    if expires is None:
        return 'none'
    if expired:
        return 'expired %s' % _time(lock['expires_at'], now)
    return '%s left <small>until %s</small>' % (duration_text(expires - now), _time(lock['expires_at'], now))


def _by(event):
    """Who made an event, when its commit says (a commit made by hand often does not)."""
    return ' <small class="who">by %s</small>' % _e(event['holder']) if event.get('holder') else ''


def _last_event(name, events, operations):
    """The newest of ``events`` (newest first) that did one of ``operations`` to lock ``name``."""
    return next((event for event in events if event['lock'] == name and event['operation'] in operations), None)


def _queue(queue, now):
    if not queue:
        return '<p class="queue-empty">Nobody waits in the fair queue.</p>\n'
    rows = []
    for ticket in queue:
        arrived = parse_utc(ticket.get('arrived_at') or '')
        waited = duration_text(now - arrived) if arrived is not None else '?'
        wanted = ticket.get('wanted', 1)
        rows.append('<li data-ticket="%s"><b>#%d</b> wants %d lock%s, waiting %s <small>since %s, ticket %s</small></li>'
                    % (_e(ticket.get('ticket')), ticket.get('position', 0), wanted, '' if wanted == 1 else 's', waited,
                       _time(ticket.get('arrived_at'), now), _e(ticket.get('ticket'))))
    return '<h3>Fair queue</h3>\n<ol class="queue">%s</ol>\n' % ''.join(rows)


def _chart(locks, events, window, now):
    if window is None:
        return '<p class="chart-none">No lock events read: no busy chart (see the history option).</p>\n'
    shares = busy_buckets(locks, events, window)
    start, end = window
    step = (end - start) / len(shares)
    bars = []
    for index, share in enumerate(shares):
        low = start + index * step
        span = '%s to %s' % (moment_text(low, now), moment_text(low + step, now))
        if share is None:
            bars.append('<rect class="gap" x="%d" y="39" width="9" height="1" data-busy=""><title>%s: no lock</title></rect>'
                        % (index * 10, span))
            continue
        height = max(1, int(round(share * 38)))
        bars.append('<rect x="%d" y="%d" width="9" height="%d" data-busy="%.2f"><title>%s: %d%% taken</title></rect>'
                    % (index * 10, 40 - height, height, share, span, round(share * 100)))
    known = [share for share in shares if share is not None]
    said = ('busiest %d%%, on average %d%%' % (round(max(known) * 100), round(sum(known) / len(known) * 100))
            if known else 'no lock in that time')
    return ('<figure class="busy">\n<svg viewBox="0 0 240 40" preserveAspectRatio="none" role="img" '
            'aria-label="share of locks taken over time">%s</svg>\n'
            '<div class="axis"><span>%s</span><span>now</span></div>\n'
            '<figcaption>Share of the locks taken (claimed or dirty; full height: all of them), %s steps of %s since %s: %s.</figcaption>\n</figure>\n'
            % (''.join(bars), _time(utc_text(int(start)), now), len(shares), duration_text(step),
               _time(utc_text(int(start)), now), said))


def _events(events, now, history):
    if not history:
        return ''
    if not events:
        return '<section class="events"><h2>Last events</h2><p class="empty">No lock events.</p></section>\n'
    rows = ['<li data-operation="%s"><span class="when">%s</span> <b class="op op-%s">%s</b> '
            '<span class="what">%s/%s</span>%s</li>\n'
            % (_e(event['operation']), _time(event['time'], now), _e(event['operation']), _e(event['operation']),
               _e(event['pool']), _e(event['lock']), _by(event))
            for event in events]
    shown, folded = rows[:_EVENTS_SHOWN], rows[_EVENTS_SHOWN:]
    text = '<section class="events"><h2>Last events</h2>\n<ol class="event-list">\n%s</ol>\n' % ''.join(shown)
    if folded:
        text += ('<details><summary>%d older events</summary><ol class="event-list" start="%d">\n%s</ol></details>\n'
                 % (len(folded), _EVENTS_SHOWN + 1, ''.join(folded)))
    return text + '</section>\n'


# One column of cards, wide enough for a phone (375 px) and capped for a desktop; colours also told by text.
_STYLE = '''
:root{--free:#1a7f37;--claimed:#9a6700;--dirty:#b42318;--expired:#6e40c9;--line:#d0d7de;--muted:#57606a}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#1f2328;background:#f6f8fa}
header,main,footer{max-width:60rem;margin:0 auto;padding:0 .75rem}
h1{font-size:1.4rem;margin:.8rem 0 .2rem}
h2{font-size:1.15rem;margin:0 0 .5rem;display:flex;flex-wrap:wrap;gap:.2rem .6rem;align-items:baseline}
h2 small{font-size:.85rem;font-weight:normal;color:var(--muted)}
h3{font-size:.95rem;margin:.8rem 0 .3rem}
.where{margin:0 0 .5rem;color:var(--muted);overflow-wrap:anywhere}
.legend{list-style:none;padding:0;margin:0 0 .8rem;display:flex;flex-wrap:wrap;gap:.3rem 1rem;font-size:.85rem;color:var(--muted)}
.pool,.events{background:#fff;border:1px solid var(--line);border-radius:8px;padding:.75rem;margin:0 0 1rem}
.locks{list-style:none;padding:0;margin:0;display:grid;grid-template-columns:repeat(auto-fill,minmax(16rem,1fr));gap:.5rem}
.lock{border:1px solid var(--line);border-left:5px solid var(--free);border-radius:6px;padding:.4rem .6rem;min-width:0}
.lock.s-claimed{border-left-color:var(--claimed)}
.lock.s-dirty{border-left-color:var(--dirty);background:#fff5f5}
.lock.expired{border-left-color:var(--expired)}
.head{display:flex;justify-content:space-between;gap:.5rem;align-items:baseline}
.name{font-weight:600;overflow-wrap:anywhere}
.badge{display:inline-block;font-size:.75rem;padding:0 .45rem;border-radius:1rem;color:#fff;background:var(--free);white-space:nowrap}
.badge.s-claimed{background:var(--claimed)}.badge.s-dirty{background:var(--dirty)}.badge.s-expired{background:var(--expired)}
dl{margin:.2rem 0 0}
.f{display:flex;gap:.5rem}
dt{color:var(--muted);min-width:4.5rem}
dd{margin:0;overflow-wrap:anywhere;min-width:0}
small{color:var(--muted)}
details.metadata summary{color:var(--muted);font-size:.85rem;cursor:pointer}
pre{margin:.2rem 0;padding:.3rem;background:#f6f8fa;font-size:.8rem;white-space:pre-wrap;overflow-wrap:anywhere}
.problems{color:var(--dirty)}
.queue{margin:0;padding-left:1.2rem}
.queue-empty,.chart-none,.empty{color:var(--muted);margin:.6rem 0 0;font-size:.9rem}
.busy{margin:.8rem 0 0}
.busy svg{display:block;width:100%;height:3rem;background:#f6f8fa;border-bottom:1px solid var(--line)}
.busy rect{fill:var(--claimed)}.busy rect.gap{fill:var(--line)}
.axis{display:flex;justify-content:space-between;font-size:.75rem;color:var(--muted)}
figcaption{font-size:.8rem;color:var(--muted)}
ol.event-list{margin:0;padding-left:1.6rem}
ol.event-list li{overflow-wrap:anywhere}
.when{color:var(--muted)}
.op-claim,.op-add_claimed{color:var(--claimed)}.op-release,.op-add{color:var(--free)}.op-remove,.op-release_dirty,.op-reset{color:var(--dirty)}.op-takeover{color:var(--expired)}
footer{color:var(--muted);font-size:.8rem;padding-bottom:1.5rem}
'''
