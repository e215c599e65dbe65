"""Lock repositories on a FakeServer: the pools the unit tests start from, the commits other runs and Concourse
make, written out as those writers write them (not with the code under test), and the pools read back."""

import time

# aws: three free locks (two in eu-west-1); gcp: one. Both halves of each pool kept by a .gitkeep.
POOLS = {
    'aws/claimed/.gitkeep': b'',
    'aws/unclaimed/.gitkeep': b'',
    'aws/unclaimed/env-1': b'region: eu-west-1\n',
    'aws/unclaimed/env-2': b'region: us-east-1\n',
    'aws/unclaimed/env-3': b'region: eu-west-1\n',
    'gcp/claimed/.gitkeep': b'',
    'gcp/unclaimed/.gitkeep': b'',
    'gcp/unclaimed/g-1': b'',
}


def lock_path(pool, state, name):
    return '%s/%s/%s' % (pool, state, name)


def utc(timestamp):
    """A time as our trailers write it: ISO 8601 UTC to the second."""
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(timestamp))


def our_message(subject, holder, pool, team=None, trailers=()):
    """A commit message as lockpool.git writes it: the Concourse subject, then our trailers."""
    lines = [subject, '', 'Lock-Holder: ' + holder] + (['Lock-Team: ' + team] if team else []) + ['Lock-Pool: ' + pool]
    return '\n'.join(lines + ['%s: %s' % trailer for trailer in trailers]) + '\n'


def claimed_by(server, holder, name, pool='aws', token=None, lease_until=None, team=None):
    """Another run's claim of ``name`` (holder ``holder``), with its token and lease trailers when given."""
    trailers = []
    if token is not None:
        trailers.append(('Lock-Token', '%s/%s %d' % (pool, name, token)))
    if lease_until is not None:
        trailers.append(('Lock-Lease-Expires', '%s/%s %s' % (pool, name, utc(lease_until))))
    return server.move(lock_path(pool, 'unclaimed', name), lock_path(pool, 'claimed', name),
                       our_message('claiming: ' + name, holder, pool, team, trailers), author=holder)


def released_by(server, holder, name, pool='aws'):
    return server.move(lock_path(pool, 'claimed', name), lock_path(pool, 'unclaimed', name),
                       our_message('unclaiming: ' + name, holder, pool), author=holder)


def renewed_by(server, holder, name, lease_until, pool='aws'):
    """Another run's renewal: a commit that changes no file and records the new expiry."""
    return server.commit({}, our_message('renewing: ' + name, holder, pool, trailers=[
        ('Lock-Lease-Expires', '%s/%s %s' % (pool, name, utc(lease_until)))]), author=holder)


def pool_state(server, pool):
    """{'claimed': [names], 'unclaimed': [names]} of ``pool`` on the server's branch, dot-files left out."""
    state = {'claimed': [], 'unclaimed': []}
    for path in sorted(server.files()):
        parts = path.split('/')
        if len(parts) == 3 and parts[0] == pool and parts[1] in state and not parts[2].startswith('.'):
            state[parts[1]].append(parts[2])
    return state


def queue_ref(server, pool, arrival_ms, ticket_id, wanted, expires):
    return 'refs/lockpool/queue/%s/%s/%d-%s-%d-%d' % (server.branch, pool, arrival_ms, ticket_id, wanted, expires)


def earlier_waiter(server, pool, wanted, ticket_id='0123456789ab'):
    """Another fair claimer's live ticket, older than any claimer of the test: it arrived in 1970 and lives until 2100
    (the fair queue reads the real time.time(), which a test cannot set)."""
    ref = queue_ref(server, pool, 1000, ticket_id, wanted, 4102444800)
    server.refs[ref] = server.head
    return ref


def queue_refs(server):
    return sorted(ref for ref in server.refs if ref.startswith('refs/lockpool/queue/'))
