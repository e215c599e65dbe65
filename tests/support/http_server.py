"""``git http-backend`` behind a real nginx (through fcgiwrap) with basic auth, on a free loopback port."""

import os
import re
import subprocess

from support.servers import free_port, require_binary, stop, wait_for_port

NGINX = '/usr/sbin/nginx'
FCGIWRAP = '/usr/sbin/fcgiwrap'
HTTP_BACKEND = '/usr/lib/git-core/git-http-backend'
# Users whose name starts so may fetch but not push, as with a read-only deploy token: nginx lets them in but hands
# git http-backend no REMOTE_USER, and http-backend then refuses receive-pack with 403 Forbidden.
READ_ONLY_PREFIX = 'read-only-'

_NGINX_CONFIG = '''
daemon off;
master_process off;
pid {base}/nginx.pid;
error_log {base}/error.log info;
events {{ worker_connections 64; }}
http {{
  access_log {base}/access.log;
  client_body_temp_path {base}/body;
  fastcgi_temp_path {base}/fastcgi;
  proxy_temp_path {base}/proxy;
  uwsgi_temp_path {base}/uwsgi;
  scgi_temp_path {base}/scgi;
  map $remote_user $git_user {{
    default $remote_user;
    "~^{read_only}" "";
  }}
  server {{
    listen 127.0.0.1:{port};
    client_max_body_size 0;
    location / {{
      auth_basic "lock repositories";
      auth_basic_user_file {base}/users;
      fastcgi_pass unix:{base}/fcgiwrap.sock;
      fastcgi_param SCRIPT_FILENAME {backend};
      fastcgi_param GIT_PROJECT_ROOT {root};
      fastcgi_param GIT_HTTP_EXPORT_ALL "";
      fastcgi_param PATH_INFO $uri;
      fastcgi_param QUERY_STRING $query_string;
      fastcgi_param REQUEST_METHOD $request_method;
      fastcgi_param CONTENT_TYPE $content_type;
      fastcgi_param CONTENT_LENGTH $content_length;
      fastcgi_param REMOTE_USER $git_user;
      fastcgi_param REMOTE_ADDR $remote_addr;
    }}
  }}
}}
'''

# nginx's default ("combined") access log format: address - user [time] "request" status ...
_ACCESS_LOG_ENTRY = re.compile(r'\S+ - (?P<user>\S+) \[[^]]*\] "(?P<request>[^"]*)" (?P<status>\d+) ')


class HttpGitServer(object):
    """Serves every repository under ``root`` at ``http://127.0.0.1:<port>/<name>``; pushes need a user's password."""

    def __init__(self, base, root):
        self.base = str(base)
        self.root = str(root)
        self.port = free_port()
        self.users = {}
        self.processes = []

    def start(self):
        require_binary(NGINX, 'nginx-light')
        require_binary(FCGIWRAP, 'fcgiwrap')
        require_binary(HTTP_BACKEND, 'git')
        self._write_users()
        config = os.path.join(self.base, 'nginx.conf')
        with open(config, 'w') as handle:
            handle.write(_NGINX_CONFIG.format(base=self.base, port=self.port, root=self.root, backend=HTTP_BACKEND,
                                              read_only=READ_ONLY_PREFIX))
        socket_path = os.path.join(self.base, 'fcgiwrap.sock')
        log = open(os.path.join(self.base, 'servers.log'), 'w')
        # fcgiwrap preforks workers that outlive a parent stopped alone: give them a process group to stop together.
        self.processes.append(subprocess.Popen([FCGIWRAP, '-c', '2', '-s', 'unix:' + socket_path], stdout=log, stderr=log,
                                               start_new_session=True))
        self.processes.append(subprocess.Popen([NGINX, '-c', config, '-p', self.base], stdout=log, stderr=log))
        log.close()
        wait_for_port(self.port, self.processes[-1])
        return self

    def add_user(self, name, password):
        """Let ``name`` in with ``password`` (nginx reads the file on every request); see READ_ONLY_PREFIX."""
        self.users[name] = password
        self._write_users()

    def _write_users(self):
        with open(os.path.join(self.base, 'users'), 'w') as handle:
            handle.writelines('%s:{PLAIN}%s\n' % item for item in sorted(self.users.items()))

    def url(self, name):
        return 'http://127.0.0.1:%d/%s' % (self.port, name)

    def responses(self, user):
        """(request line, status) of every request ``user`` made, oldest first, as nginx's access log has them."""
        with open(os.path.join(self.base, 'access.log')) as handle:
            entries = [_ACCESS_LOG_ENTRY.match(line) for line in handle]
        return [(entry.group('request'), int(entry.group('status'))) for entry in entries
                if entry and entry.group('user') == user]

    def stop(self):
        for process in reversed(self.processes):
            stop(process)
