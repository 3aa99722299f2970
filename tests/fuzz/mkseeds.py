#!/usr/bin/env python3
# virtagent - write the fuzzers' seed inputs (tests/fuzz/seeds/NAME)
#
# Copyright (c) 2026 The virtagent authors
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Documents in UTF-8, UTF-16 and UTF-32, as calls and answers, with the
# attacks the boundary refuses; frames around them. The channel's first
# seeds (call, reply, garbage-then-call) are kept as they are.
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

CALL = ('<?xml version="1.0" encoding="UTF-8"?>\r\n<methodCall>\r\n'
        '<methodName>test.echo</methodName>\r\n<params>\r\n'
        '<param><value><struct>'
        '<member><name>i4</name><value><i4>-2147483648</i4></value></member>'
        '<member><name>int</name><value><int>7</int></value></member>'
        '<member><name>i8</name><value><i8>9223372036854775807</i8></value>'
        '</member>'
        '<member><name>b</name><value><boolean>1</boolean></value></member>'
        '<member><name>d</name><value><double>-1.5</double></value></member>'
        '<member><name>e</name><value><double>1e+100</double></value>'
        '</member>'
        '<member><name>s</name><value><string>a &lt;b&gt; &amp; &#233;'
        '&#x20AC; caf\u00e9</string></value></member>'
        '<member><name>t</name><value>plain</value></member>'
        '<member><name>dt</name><value><dateTime.iso8601>'
        '20240102T03:04:05.123456</dateTime.iso8601></value></member>'
        '<member><name>bin</name><value><base64>\r\nAAEC/w==\r\n</base64>'
        '</value></member>'
        '<member><name>n</name><value><nil/></value></member>'
        '<member><name>a</name><value><array><data><value><i4>1</i4>'
        '</value><value/></data></array></value></member>'
        '</struct></value></param>\r\n</params>\r\n</methodCall>\r\n')
RESPONSE = ("<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n"
            "<value><string>pong</string></value>\n</param>\n</params>\n"
            "</methodResponse>\n")
FAULT = ('<?xml version="1.0"?><methodResponse><fault><value><struct>'
         '<member><name>faultCode</name><value><int>1003</int></value>'
         '</member><member><name>faultString</name><value><string>no'
         '</string></value></member></struct></value></fault>'
         '</methodResponse>')
LAUGHS = ('<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaa">'
          '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><methodCall><methodName>'
          'm</methodName><params><param><value><string>&b;</string>'
          '</value></param></params></methodCall>')
BAD_I8 = ('<?xml version="1.0"?><methodCall><methodName>m</methodName>'
          '<params><param><value><i8>99999999999999999999999</i8></value>'
          '</param></params></methodCall>')
DEEP = ('<methodCall><methodName>m</methodName><params><param><value>' +
        '<array><data><value>' * 30 + 'x' +
        '</value></data></array>' * 30 + '</value></param></params>'
        '</methodCall>')
ODD = ('<methodCall><methodName>m</methodName><params><param><value>'
       '<double>nan</double></value></param><param><value><string>'
       '<!-- c --><![CDATA[x]]>&#0;&#xD800;</string></value></param>'
       '</params></methodCall>')

DOCS = {
    'call': CALL, 'response': RESPONSE, 'fault': FAULT, 'laughs': LAUGHS,
    'bad-i8': BAD_I8, 'deep': DEEP, 'odd': ODD,
}
ENCODINGS = {
    'utf16le': ('utf-16-le', b''), 'utf16be': ('utf-16-be', b''),
    'utf16le-bom': ('utf-16-le', b'\xff\xfe'),
    'utf16be-bom': ('utf-16-be', b'\xfe\xff'),
    'utf32le': ('utf-32-le', b''), 'utf32be': ('utf-32-be', b''),
    'utf32le-bom': ('utf-32-le', b'\xff\xfe\x00\x00'),
    'utf32be-bom': ('utf-32-be', b'\x00\x00\xfe\xff'),
    'utf8-bom': ('utf-8', b'\xef\xbb\xbf'),
}


def documents():
    for name, doc in DOCS.items():
        yield name, doc.encode()
    for enc_name, (codec, bom) in ENCODINGS.items():
        for name in ('call', 'bad-i8', 'laughs'):
            doc = DOCS[name]
            if codec != 'utf-8':
                doc = doc.replace('encoding="UTF-8"', 'encoding="UTF-16"')
            yield '%s-%s' % (name, enc_name), bom + doc.encode(codec)
    yield 'latin1-decl', ('<?xml version="1.0" encoding="ISO-8859-1"?>'
                          '<methodCall><methodName>m</methodName>'
                          '<params><param><value>caf\xe9</value></param>'
                          '</params></methodCall>').encode('latin-1')
    yield 'overlong-lt', CALL.encode().replace(b'<i4>', b'\xc0\xbci4>', 1)


def frame(kind, tag, body):
    start = b'POST /RPC2 HTTP/1.1' if kind == 'call' else b'HTTP/1.1 200 OK'
    return (b'\xff' + start + b'\r\nContent-Type: text/xml\r\n'
            b'Content-Length: %d\r\nX-Virtagent-Client-Tag: %s\r\n\r\n'
            % (len(body), tag) + body)


def escape(data):
    return data.replace(b'\xfe', b'\xfe\x7e').replace(b'\xff', b'\xfe\x7f')


def data(tag, offset, body=b'', end=None):
    wire = escape(body)
    return (b'\xffDATA VA/1\r\nContent-Length: %d\r\n'
            b'X-Virtagent-Client-Tag: %s\r\nX-Virtagent-Offset: %d\r\n'
            % (len(wire), tag, offset) +
            (b'X-Virtagent-End: %s\r\n' % end if end else b'') +
            b'\r\n' + wire)


def raw_data(tag, offset, body):
    return (b'\xffDATA VA/1\r\nContent-Length: %d\r\n'
            b'X-Virtagent-Client-Tag: %s\r\nX-Virtagent-Offset: %d\r\n'
            b'X-Virtagent-Encoding: raw\r\n\r\n'
            % (len(body), tag, offset) + body)


def credit(tag, value):
    return (b'\xffCREDIT VA/1\r\nContent-Length: 0\r\n'
            b'X-Virtagent-Client-Tag: %s\r\nX-Virtagent-Credit: %s\r\n\r\n'
            % (tag, value))


BYTES = bytes(range(256)) + b'\xfe' * 9 + b'\xff' * 9


def method_call(name):
    return ('<?xml version="1.0"?><methodCall><methodName>%s</methodName>'
            '<params/></methodCall>' % name).encode()


def frames():
    call = DOCS['call'].encode()
    yield 'call', frame('call', b'peer.1', call)
    yield 'reply', frame('reply', b'peer.2', DOCS['response'].encode())
    yield 'empty-body', frame('call', b'e', b'')
    yield 'garbage', b'noise\xff\xffPOST\xff' + frame('call', b'g.1', b'x')
    yield 'too-large', frame('call', b'big', b'x' * 300) + frame(
        'reply', b'ok', b'y')
    yield 'cut-body', frame('call', b'c', call)[:60] + frame('reply', b'r',
                                                             b'z')
    yield 'bad-tag', frame('call', b'bad tag', b'x')
    yield 'no-length', (b'\xffPOST /RPC2 HTTP/1.1\r\n'
                        b'X-Virtagent-Client-Tag: t\r\n\r\nxyz')
    yield 'lf-only', frame('reply', b't', b'abc').replace(b'\r\n', b'\n')
    yield 'utf16-call', frame('call', b'u', CALL.encode('utf-16-be'))
    yield 'data', (data(b'd.1', 0, BYTES) + data(b'd.1', len(BYTES), BYTES) +
                   data(b'd.1', 2 * len(BYTES), end=b'ok'))
    yield 'data-abort', data(b'd.2', 7, end=b'abort') + credit(b'd.3', b'abort')
    yield 'credit', credit(b'k.1', b'1048576') + credit(b'k.1', b'1310720')
    yield 'data-bad-escape', (data(b'd.4', 0, b'ab')[:-2] + b'\xfe\x00' +
                              frame('reply', b'r', b'ok'))
    # an odd first byte: parsed as a host, which takes raw bodies
    yield 'data-raw', (b'\x01' + raw_data(b'd.5', 0, BYTES) +
                       raw_data(b'd.5', len(BYTES), frame('call', b'x', b'y')))
    yield 'data-raw-refused', b'\x00' + raw_data(b'd.6', 0, BYTES)


def channel():
    for enc in ('utf-16-le', 'utf-16-be', 'utf-32-be'):
        for name in ('call', 'bad-i8', 'laughs'):
            yield ('%s-%s' % (name, enc),
                   b'\x00' + frame('call', b'peer.9',
                                    DOCS[name].encode(enc)))
    yield 'utf8-calls-drip', b'\x05' + frame('call', b'p.1', CALL.encode())
    yield 'reply-odd', b'\x00' + frame('reply', b'x.1', ODD.encode())
    yield 'put-stream', (b'\x00' + frame('call', b'up.1', method_call('t.put'))
                         + data(b'up.1', 0, BYTES) +
                         data(b'up.1', len(BYTES), BYTES) +
                         data(b'up.1', 2 * len(BYTES), end=b'ok'))
    yield 'put-stream-drip', (b'\x03' +
                              frame('call', b'up.2', method_call('t.put')) +
                              data(b'up.2', 0, BYTES) +
                              data(b'up.2', 999, BYTES))
    yield 'put-stream-raw', (b'\x00' +
                             frame('call', b'up.3', method_call('t.put')) +
                             raw_data(b'up.3', 0, BYTES) +
                             data(b'up.3', len(BYTES), end=b'ok'))
    yield 'get-stream', (b'\x00' + frame('call', b'dn.1', method_call('t.get'))
                         + credit(b'dn.1', b'2000000') +
                         credit(b'dn.1', b'abort'))


def write(target, items):
    d = os.path.join(HERE, 'seeds', target)
    os.makedirs(d, exist_ok=True)
    for name, data in items:
        with open(os.path.join(d, name), 'wb') as f:
            f.write(data)


def main():
    write('boundary', documents())
    write('frame', frames())
    write('channel', channel())
    return 0


if __name__ == '__main__':
    sys.exit(main())
