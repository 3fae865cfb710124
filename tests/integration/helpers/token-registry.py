#!/usr/bin/env python3
"""A registry front that demands bearer tokens, as docker.io does, for cage's tests.

  token-registry.py PORT BACKEND LOG [USER:PASSWORD]

Listens on 127.0.0.1:PORT. /v2/... without a valid "Authorization: Bearer" answers 401 with
a Bearer challenge whose realm is this server's /token; /token hands out a token (only to
USER:PASSWORD in Basic auth when given) and appends "token scope=... user=..." to LOG;
with a token, requests are passed to the registry at BACKEND (host:port, plain HTTP).
"""
import base64
import http.server
import secrets
import sys
import urllib.error
import urllib.parse
import urllib.request

PORT, BACKEND, LOG = int(sys.argv[1]), sys.argv[2], sys.argv[3]
CREDENTIALS = sys.argv[4] if len(sys.argv) > 4 else None
TOKENS = set()


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def token(self):
        query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
        user = "-"
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            user = base64.b64decode(auth[6:]).decode()
        with open(LOG, "a") as log:
            log.write("token scope=%s user=%s\n" % (query.get("scope", ["-"])[0], user.split(":")[0]))
        if CREDENTIALS and user != CREDENTIALS:
            return self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}')
        token = secrets.token_hex(16)
        TOKENS.add(token)
        self.reply(200, ('{"token":"%s","expires_in":300}' % token).encode(), [("Content-Type", "application/json")])

    def do_GET(self):
        if self.path.startswith("/token"):
            return self.token()
        auth = self.headers.get("Authorization", "")
        if not (auth.startswith("Bearer ") and auth[7:] in TOKENS):
            challenge = 'Bearer realm="http://127.0.0.1:%d/token",service="cage-test"' % PORT
            return self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', [("WWW-Authenticate", challenge)])
        request = urllib.request.Request("http://" + BACKEND + self.path,
                                         headers={"Accept": self.headers.get("Accept", "*/*")})
        try:
            with urllib.request.urlopen(request) as response:
                body, status, headers = response.read(), response.status, response.headers
        except urllib.error.HTTPError as error:
            body, status, headers = error.read(), error.code, error.headers
        keep = [(n, v) for n, v in headers.items() if n.lower() in ("content-type", "docker-content-digest")]
        self.reply(status, body, keep)


http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
