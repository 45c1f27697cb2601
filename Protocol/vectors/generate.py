#!/usr/bin/env python3
"""Writes messages.json: golden vectors of the Nest sync protocol v1.

An encoder written from PROTOCOL.md alone (independent of the Swift code),
so the Swift tests check the spec, not themselves. Run: python3 generate.py
"""
import json, os

def uint(n):
    out = bytearray()
    while n > 0x7F:
        out.append(0x80 | (n & 0x7F)); n >>= 7
    out.append(n)
    return bytes(out)

def string(s):
    b = s.encode('utf-8'); return uint(len(b)) + b

def blob(b):
    return uint(len(b)) + b

DOC = 'w1/draft/d1'
HELLO_UPDATE = bytes.fromhex('01010100040107636f6e74656e74' + '0568656c6c6f00')
SV_EMPTY = bytes([0])
AWARENESS = bytes.fromhex('012a012b') + b'{"user":{"name":"alice","color":"#ff0000"}}'

vectors = []
def add(name, fields, body):
    vectors.append({'name': name, 'message': fields, 'hex': body.hex()})

add('hello', {'type': 'hello', 'minVersion': 1, 'maxVersion': 1, 'client': 'nest/0.1', 'token': ''},
    uint(0) + uint(1) + uint(1) + string('nest/0.1') + string(''))
add('hello with token', {'type': 'hello', 'minVersion': 1, 'maxVersion': 2, 'client': 'web', 'token': 'eyJ.x.y'},
    uint(0) + uint(1) + uint(2) + string('web') + string('eyJ.x.y'))
add('welcome', {'type': 'welcome', 'version': 1, 'userID': 'u1',
                'workspaces': [['w1', 'editor'], ['w2', 'viewer']],
                'limits': [1048576, 1000, 100], 'sessionID': 's1'},
    uint(1) + uint(1) + string('u1') + uint(2) + string('w1') + uint(2) + string('w2') + uint(3)
    + uint(1048576) + uint(1000) + uint(100) + string('s1'))
add('subscribe', {'type': 'subscribe', 'documents': [[DOC, SV_EMPTY.hex()], ['w1/calendar/main', '0101 05'.replace(' ', '')]]},
    uint(2) + uint(2) + string(DOC) + blob(SV_EMPTY) + string('w1/calendar/main') + blob(bytes.fromhex('010105')))
add('unsubscribe', {'type': 'unsubscribe', 'documents': [DOC]}, uint(3) + uint(1) + string(DOC))
add('syncStep1', {'type': 'syncStep1', 'documentID': DOC, 'stateVector': SV_EMPTY.hex()},
    uint(4) + string(DOC) + blob(SV_EMPTY))
add('syncStep2', {'type': 'syncStep2', 'documentID': DOC, 'update': HELLO_UPDATE.hex()},
    uint(5) + string(DOC) + blob(HELLO_UPDATE))
add('update', {'type': 'update', 'documentID': DOC, 'clientSeq': 7, 'update': HELLO_UPDATE.hex()},
    uint(6) + string(DOC) + uint(7) + blob(HELLO_UPDATE))
add('ack', {'type': 'ack', 'documentID': DOC, 'clientSeq': 7, 'serverSeq': 300},
    uint(7) + string(DOC) + uint(7) + uint(300))
add('refused read_only', {'type': 'refused', 'documentID': DOC, 'clientSeq': 8, 'code': 7, 'text': 'viewers cannot edit'},
    uint(8) + string(DOC) + uint(8) + uint(7) + string('viewers cannot edit'))
add('broadcast', {'type': 'broadcast', 'documentID': DOC, 'serverSeq': 43, 'update': HELLO_UPDATE.hex()},
    uint(9) + string(DOC) + uint(43) + blob(HELLO_UPDATE))
add('error unsupported_version', {'type': 'error', 'code': 2, 'text': 'speaks 1..1', 'documentID': ''},
    uint(10) + uint(2) + string('speaks 1..1') + string(''))
add('error forbidden', {'type': 'error', 'code': 5, 'text': 'not a member of w9', 'documentID': 'w9/draft/x'},
    uint(10) + uint(5) + string('not a member of w9') + string('w9/draft/x'))
add('awareness', {'type': 'awareness', 'documentID': DOC, 'update': AWARENESS.hex()},
    uint(11) + string(DOC) + blob(AWARENESS))
add('catalogRequest', {'type': 'catalogRequest', 'cursor': 0}, uint(12) + uint(0))
add('catalog', {'type': 'catalog', 'cursor': 300, 'entries': [[DOC, 42], ['w1/brandkit/b1', 299]]},
    uint(13) + uint(300) + uint(2) + string(DOC) + uint(42) + string('w1/brandkit/b1') + uint(299))
add('event', {'type': 'event', 'kind': 'ai.completed', 'documentID': DOC, 'payloadJSON': '{"requestId":"r1","é":true}'},
    uint(14) + string('ai.completed') + string(DOC) + string('{"requestId":"r1","é":true}'))
add('ping', {'type': 'ping', 'nonce': 5}, uint(15) + uint(5))
add('pong', {'type': 'pong', 'nonce': 2**32 + 7}, uint(16) + uint(2**32 + 7))
add('reauth', {'type': 'reauth', 'token': 't'}, uint(17) + string('t'))
WP_ENDPOINT = 'https://push.example.net/p/AbC-1'
WP_KEY = 'BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4'
WP_AUTH = 'BTBZMqHH6r4Tts7J_aSIgg'
add('registerDevice webpush', {'type': 'registerDevice', 'requestID': 3, 'provider': 'webpush',
                               'fields': [['auth', WP_AUTH], ['endpoint', WP_ENDPOINT], ['p256dh', WP_KEY]], 'inBand': True},
    uint(18) + uint(3) + string('webpush') + uint(3) + string('auth') + string(WP_AUTH) + string('endpoint') + string(WP_ENDPOINT)
    + string('p256dh') + string(WP_KEY) + uint(1))
add('deviceRegistered', {'type': 'deviceRegistered', 'requestID': 3, 'deviceID': 'dv_7f3a'},
    uint(19) + uint(3) + string('dv_7f3a'))
add('deviceRefused invalid_device', {'type': 'deviceRefused', 'requestID': 4, 'code': 16, 'text': 'apns: missing topic'},
    uint(20) + uint(4) + uint(16) + string('apns: missing topic'))

invalid = [
    {'name': 'empty', 'hex': ''},
    {'name': 'unknown type 21', 'hex': uint(21).hex()},
    {'name': 'registerDevice with a field name and no value', 'hex': (uint(18) + uint(1) + string('ntfy') + uint(1) + string('url')).hex()},
    {'name': 'registerDevice with inBand 2', 'hex': (uint(18) + uint(1) + string('ntfy') + uint(0) + uint(2)).hex()},
    {'name': 'truncated ack', 'hex': (uint(7) + string(DOC) + uint(7)).hex()},
    {'name': 'trailing byte', 'hex': (uint(15) + uint(5) + b'\x00').hex()},
    {'name': 'string longer than message', 'hex': (uint(17) + uint(50) + b'abc').hex()},
    {'name': 'unknown role in welcome', 'hex': (uint(1) + uint(1) + string('u') + uint(1) + string('w') + uint(9)).hex()},
    {'name': 'list count larger than message', 'hex': (uint(3) + uint(1000000)).hex()},
    {'name': 'invalid UTF-8', 'hex': (uint(17) + uint(2) + b'\xc3\x28').hex()},
]

here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, 'messages.json'), 'w') as f:
    json.dump({'description': 'Nest sync protocol v1 messages (PROTOCOL.md section 3). Byte fields are hex.',
               'valid': vectors, 'invalid': invalid}, f, indent=1, ensure_ascii=False)
    f.write('\n')
print(f'{len(vectors)} valid and {len(invalid)} invalid vectors')
