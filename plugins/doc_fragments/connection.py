# -*- coding: utf-8 -*-
# Copyright: lockpool.git contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Options shared by every plugin that reads or writes a lock repository, modules and lookups alike.
    # No env entries: a lookup reads the LOCKPOOL_* variables as the modules do (_connection.connection_options),
    # where Ansible's own reading would take an empty one as a value.
    DOCUMENTATION = r'''
options:
  repo:
    description:
      - The lock repository, as git understands it (C(https://...), C(ssh://...), C(git@host:path), C(git://...) or a local path).
      - The Concourse pool-resource calls this C(uri); O(uri) is accepted as an alias.
      - Taken from the E(LOCKPOOL_REPO) environment variable when not given.
      - A password in the URL (C(https://user:password@host/...)) is accepted and never shown; prefer O(username) and O(password).
    type: str
    required: true
    aliases: [uri]
  branch:
    description:
      - The branch that holds the pools.
      - Taken from the E(LOCKPOOL_BRANCH) environment variable when not given.
    type: str
    default: main
  cache_dir:
    description:
      - Directory for the local cache of the lock repository, shared by every run on this machine.
      - Taken from the E(LOCKPOOL_CACHE_DIR) environment variable when not given.
      - Defaults to C($XDG_CACHE_HOME/lockpool) or C(~/.cache/lockpool).
      - Credentials are never written there; the same repository reached with different credentials shares one cache.
    type: path
  private_key:
    description:
      - The text of the SSH private key for C(ssh://) and C(user@host:path) repositories, as the Concourse pool-resource's
        C(private_key).
      - Written to a private temporary file (mode 0600) for the duration of the task only.
      - With a key, ssh reads neither C(~/.ssh) nor an ssh-agent, and trusts only the host keys in O(known_hosts)
        (or, with O(accept_new_host_keys), the first key it is shown).
      - Mutually exclusive with O(private_key_file).
      - Taken from the E(LOCKPOOL_PRIVATE_KEY) environment variable when not given.
    type: str
  private_key_file:
    description:
      - Path to the SSH private key, on the host that runs the task. Read, never changed; see O(private_key).
      - Taken from the E(LOCKPOOL_PRIVATE_KEY_FILE) environment variable when not given.
    type: path
  private_key_passphrase:
    description:
      - The passphrase of O(private_key) or O(private_key_file). It is handed to ssh without a prompt, so a protected
        key never leaves a task waiting for someone to type.
      - Taken from the E(LOCKPOOL_PRIVATE_KEY_PASSPHRASE) environment variable when not given.
    type: str
  username:
    description:
      - User name for C(https://) (and C(http://)) repositories, as the Concourse pool-resource's C(username).
      - For a token (GitHub, GitLab, Gitea), any non-empty name the server accepts with it, such as C(x-access-token) or C(oauth2).
      - Taken from the E(LOCKPOOL_USERNAME) environment variable when not given.
    type: str
  password:
    description:
      - Password or access token for O(username). Handed to git by a private helper, never put in a URL or a git config.
      - With O(username) or O(password), C(~/.netrc) is not read (git runs with C(HOME) set to a private temporary directory).
      - Taken from the E(LOCKPOOL_PASSWORD) environment variable when not given.
    type: str
  known_hosts:
    description:
      - The SSH host keys to trust, as C(known_hosts) lines (C([host]:port key-type key)) or the path of such a file.
      - When any of O(private_key), O(private_key_file), O(known_hosts) or O(accept_new_host_keys) is given, these
        are the only host keys ssh trusts; C(~/.ssh/known_hosts) is neither read nor changed.
      - Taken from the E(LOCKPOOL_KNOWN_HOSTS) environment variable when not given.
    type: str
  accept_new_host_keys:
    description:
      - Trust a host key ssh has not seen before (trust on first use, C(StrictHostKeyChecking=accept-new)).
        A key that differs from one in O(known_hosts) is still refused. What is learned is forgotten when the task ends.
      - When V(false), a host whose key is not in O(known_hosts) is refused; host key checking is never turned off.
      - Taken from the E(LOCKPOOL_ACCEPT_NEW_HOST_KEYS) environment variable when not given.
    type: bool
    default: false
  git_config:
    description:
      - Git configuration for this plugin's own git commands only, as a mapping of keys to values,
        like the git-resource's C(git_config), for example C(http.sslCAInfo) or C(http.proxy).
      - Nothing is written to a git config file. The values are shown in logs, so put secrets in the credential options instead.
      - Setting C(core.sshCommand) has no effect; the ssh options above decide how ssh runs.
      - The plugins talk git protocol version 0 (C(protocol.version=0)). A lock repository has few refs, and version 0
        reads them in one round trip fewer than version 2. Set C(protocol.version) to C(2) for a lock branch kept in a
        repository with very many refs.
      - Taken from the E(LOCKPOOL_GIT_CONFIG) environment variable (JSON or C(key=value) pairs) when not given.
    type: dict
  ssl_verify:
    description:
      - Verify the server's TLS certificate (git's C(http.sslVerify)). Prefer trusting a private CA with
        O(git_config) C(http.sslCAInfo) to turning this off.
      - Taken from the E(LOCKPOOL_SSL_VERIFY) environment variable when not given.
    type: bool
    default: true
notes:
  - An E(LOCKPOOL_*) environment variable that is set but empty counts as not set (AWX injects an empty string for
    a credential field left blank).
  - Network operations give up instead of hanging. ssh waits at most 15 seconds to connect and drops a silent
    connection after 30 seconds; HTTP gives up when less than 1000 bytes per second arrive for 30 seconds
    (C(http.lowSpeedLimit), C(http.lowSpeedTime), which O(git_config) can change).
  - Secrets (O(private_key), O(private_key_passphrase), O(password), and credentials in O(repo)) are never shown in
    results, errors or logs, and never written to the cache or to a git config.
requirements:
  - git (the command line tool) on the host that runs the plugin
  - GitPython
  - PyYAML
'''
