#!/usr/bin/env python3
"""A Web Push endpoint (push service) for tests, checked by independent code.

Bodies are decrypted with `http_ece` (RFC 8188/8291) using the subscription's
private key made here with `cryptography`; VAPID tokens (RFC 8292) are
verified with PyJWT against the `k` key the request names. Every contract
problem is answered 400 and kept in the log.

Usage: webpush_endpoint.py   (prints one JSON line with the port and, per
subscription, endpoint/p256dh/auth; then serves until killed)

Subscriptions: `ok` (201), `gone` (410), `flaky` (503 twice, then 201),
`limited` (429 with Retry-After: 1 once, then 201), `big` (413).
GET /log returns every request as JSON: {sub, status, plaintext, problems, headers}.
"""
import base64, json, os, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

import http_ece
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives import serialization


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b'=').decode()


def unb64url(s):
    return base64.urlsafe_b64decode(s + '=' * (-len(s) % 4))


SUBS = {}
for name in ['ok', 'gone', 'flaky', 'limited', 'big', 'ok2']:
    key = ec.generate_private_key(ec.SECP256R1())
    pub = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    SUBS[name] = {'key': key, 'p256dh': b64url(pub), 'auth': b64url(os.urandom(16)), 'count': 0}

LOG = []
LOCK = threading.Lock()
URGENCY = {'very-low', 'low', 'normal', 'high'}


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, *args):
        pass

    def reply(self, status, body=b'', headers=None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == '/log':
            with LOCK:
                body = json.dumps(LOG).encode()
            return self.reply(200, body, {'Content-Type': 'application/json'})
        self.reply(404)

    def do_POST(self):
        length = int(self.headers.get('Content-Length', '0'))
        body = self.rfile.read(length)
        parts = self.path.strip('/').split('/')
        if len(parts) != 2 or parts[0] != 'push' or parts[1] not in SUBS:
            return self.reply(404)
        name = parts[1]
        sub = SUBS[name]
        problems = []
        h = self.headers
        if h.get('Content-Encoding') != 'aes128gcm':
            problems.append('Content-Encoding must be aes128gcm')
        ttl = h.get('TTL')
        if ttl is None or not ttl.isdigit():
            problems.append('TTL missing or not a number')
        if h.get('Urgency') and h.get('Urgency') not in URGENCY:
            problems.append('bad Urgency ' + h.get('Urgency'))
        topic = h.get('Topic')
        if topic is not None and (len(topic) > 32 or any(c not in 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_' for c in topic)):
            problems.append('Topic must be at most 32 base64url characters')
        auth = h.get('Authorization', '')
        try:
            scheme, params = auth.split(' ', 1)
            assert scheme == 'vapid'
            kv = dict(p.strip().split('=', 1) for p in params.split(','))
            k = unb64url(kv['k'])
            pub = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), k)
            host = h.get('Host')
            origin = 'http://' + host
            claims = jwt.decode(kv['t'], pub, algorithms=['ES256'], audience=origin, options={'require': ['exp', 'aud', 'sub']})
            if claims['exp'] > time.time() + 24 * 3600:
                problems.append('VAPID exp more than 24 h ahead')
            if not (claims['sub'].startswith('mailto:') or claims['sub'].startswith('https:')):
                problems.append('VAPID sub must be mailto: or https:')
        except Exception as e:  # noqa: BLE001 - every failure is a contract problem
            problems.append('VAPID: %r' % (e,))
        plaintext = None
        try:
            plaintext = http_ece.decrypt(body, private_key=sub['key'], auth_secret=unb64url(sub['auth']), version='aes128gcm').decode()
        except Exception as e:  # noqa: BLE001
            problems.append('decrypt: %r' % (e,))
        with LOCK:
            sub['count'] += 1
            n = sub['count']
        status, headers = 201, {'Location': '/msg/%s/%d' % (name, n)}
        if problems:
            status, headers = 400, {}
        elif name == 'gone':
            status, headers = 410, {}
        elif name == 'flaky' and n <= 2:
            status, headers = 503, {}
        elif name == 'limited' and n == 1:
            status, headers = 429, {'Retry-After': '1'}
        elif name == 'big':
            status, headers = 413, {}
        with LOCK:
            LOG.append({'sub': name, 'status': status, 'plaintext': plaintext, 'problems': problems,
                        'urgency': h.get('Urgency'), 'ttl': ttl, 'topic': topic, 'bytes': len(body)})
        self.reply(status, b'', headers)


server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
port = server.server_address[1]
print(json.dumps({'port': port, 'subscriptions': {
    n: {'endpoint': 'http://127.0.0.1:%d/push/%s' % (port, n), 'p256dh': s['p256dh'], 'auth': s['auth']} for n, s in SUBS.items()}}), flush=True)
server.serve_forever()
