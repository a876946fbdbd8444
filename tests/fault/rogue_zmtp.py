#!/usr/bin/env python3
"""A rogue client for the fault suite: speaks ZMTP 3.0 (RFC 23) and msgpack
by hand (stdlib only, so it can also send what no ZeroMQ library would) and
throws bad traffic at receta-scheduler's ROUTER socket, in phases. After
every phase it checks that `receta runs --json` still answers.

Usage: rogue_zmtp.py PORT RECETA_BIN ATTEMPT_ID STEP_OUTPUT_PATH

ATTEMPT_ID is a real attempt that is running: the worker-protocol phase
forges messages about it from a peer that never registered.
Exit status 0 when the scheduler answered after every phase.
"""
import os
import socket
import struct
import subprocess
import sys
import time

PORT, RECETA, ATTEMPT, OUTPUT_PATH = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
VERSION = 1
T_ERROR, T_REGISTER, T_HEARTBEAT, T_ATTEMPT_STARTED, T_LOG_CHUNK, T_ATTEMPT_FINISHED = 1, 2, 4, 6, 7, 8
T_KILL_ATTEMPT, T_BLOB_PUT_BEGIN, T_BLOB_PUT_CHUNK, T_BLOB_PUT_END, T_LIST_RUNS = 10, 13, 15, 16, 22


# ---- msgpack (just what the tests need) ------------------------------------
def pack(v):
    if v is None:
        return b"\xc0"
    if v is True:
        return b"\xc3"
    if v is False:
        return b"\xc2"
    if isinstance(v, int):
        if 0 <= v < 128:
            return bytes([v])
        if v >= 0:
            for tag, fmt, top in ((0xCC, ">B", 1 << 8), (0xCD, ">H", 1 << 16), (0xCE, ">I", 1 << 32)):
                if v < top:
                    return bytes([tag]) + struct.pack(fmt, v)
            return b"\xcf" + struct.pack(">Q", v)
        if v >= -32:
            return struct.pack(">b", v)
        return b"\xd3" + struct.pack(">q", v)
    if isinstance(v, str):
        b = v.encode()
        if len(b) < 32:
            return bytes([0xA0 | len(b)]) + b
        return b"\xdb" + struct.pack(">I", len(b)) + b
    if isinstance(v, bytes):
        return b"\xc6" + struct.pack(">I", len(v)) + v
    if isinstance(v, list):
        head = bytes([0x90 | len(v)]) if len(v) < 16 else b"\xdd" + struct.pack(">I", len(v))
        return head + b"".join(pack(x) for x in v)
    if isinstance(v, dict):
        head = bytes([0x80 | len(v)]) if len(v) < 16 else b"\xdf" + struct.pack(">I", len(v))
        return head + b"".join(pack(k) + pack(x) for k, x in v.items())
    raise TypeError(v)


def envelope(msg_type, body, request_id=0, version=VERSION):
    return pack([version, msg_type, request_id, body])


def unpack(b, i=0):
    """Decodes one msgpack value at b[i:]; returns (value, next index)."""
    t = b[i]
    if t < 0x80:
        return t, i + 1
    if t >= 0xE0:
        return t - 256, i + 1
    if 0xA0 <= t <= 0xBF:
        n = t & 0x1F
        return b[i + 1:i + 1 + n].decode(errors="replace"), i + 1 + n
    if 0x90 <= t <= 0x9F or t in (0xDC, 0xDD):
        n, i = (t & 0x0F, i + 1) if t < 0xA0 else (
            (struct.unpack(">H", b[i + 1:i + 3])[0], i + 3) if t == 0xDC else (struct.unpack(">I", b[i + 1:i + 5])[0], i + 5))
        out = []
        for _ in range(n):
            v, i = unpack(b, i)
            out.append(v)
        return out, i
    if 0x80 <= t <= 0x8F or t in (0xDE, 0xDF):
        n, i = (t & 0x0F, i + 1) if t < 0x90 else (
            (struct.unpack(">H", b[i + 1:i + 3])[0], i + 3) if t == 0xDE else (struct.unpack(">I", b[i + 1:i + 5])[0], i + 5))
        out = {}
        for _ in range(n):
            k, i = unpack(b, i)
            v, i = unpack(b, i)
            out[k] = v
        return out, i
    fixed = {0xC0: (None, 1), 0xC2: (False, 1), 0xC3: (True, 1)}
    if t in fixed:
        return fixed[t][0], i + fixed[t][1]
    sizes = {0xCC: ">B", 0xCD: ">H", 0xCE: ">I", 0xCF: ">Q", 0xD0: ">b", 0xD1: ">h", 0xD2: ">i", 0xD3: ">q",
             0xCA: ">f", 0xCB: ">d"}
    if t in sizes:
        n = struct.calcsize(sizes[t])
        return struct.unpack(sizes[t], b[i + 1:i + 1 + n])[0], i + 1 + n
    if t in (0xD9, 0xDA, 0xDB, 0xC4, 0xC5, 0xC6):
        fmt = {0xD9: ">B", 0xDA: ">H", 0xDB: ">I", 0xC4: ">B", 0xC5: ">H", 0xC6: ">I"}[t]
        w = struct.calcsize(fmt)
        n = struct.unpack(fmt, b[i + 1:i + 1 + w])[0]
        raw = b[i + 1 + w:i + 1 + w + n]
        return (raw.decode(errors="replace") if t in (0xD9, 0xDA, 0xDB) else raw), i + 1 + w + n
    raise ValueError("msgpack type 0x%02x" % t)


# ---- ZMTP 3.0 -----------------------------------------------------------------
def recv_exact(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise ConnectionError("peer closed")
        out += chunk
    return out


def read_frame(s):
    flags = recv_exact(s, 1)[0]
    size = struct.unpack(">Q", recv_exact(s, 8))[0] if flags & 0x02 else recv_exact(s, 1)[0]
    return flags, recv_exact(s, size)


def frame_header(flags, size):
    if size > 255:
        return bytes([flags | 0x02]) + struct.pack(">Q", size)
    return bytes([flags, size])


def connect():
    """A DEALER session: greeting, NULL handshake (READY both ways)."""
    s = socket.create_connection(("127.0.0.1", PORT), timeout=5)
    s.sendall(b"\xff" + b"\x00" * 8 + b"\x7f" + b"\x03\x00" + b"NULL".ljust(20, b"\x00") + b"\x00" + b"\x00" * 31)
    greeting = recv_exact(s, 64)
    if greeting[0] != 0xFF or greeting[9] != 0x7F:
        raise ConnectionError("not a ZMTP greeting: %r" % greeting[:12])

    def prop(name, value):
        return bytes([len(name)]) + name + struct.pack(">I", len(value)) + value
    ready = b"\x05READY" + prop(b"Socket-Type", b"DEALER") + prop(b"Identity", b"")
    s.sendall(frame_header(0x04, len(ready)) + ready)
    flags, body = read_frame(s)
    if not flags & 0x04 or body[1:6] != b"READY":
        raise ConnectionError("no READY from the scheduler: %r" % body[:20])
    return s


def send(s, frames):
    data = b""
    for i, f in enumerate(frames):
        data += frame_header(0x01 if i + 1 < len(frames) else 0x00, len(f)) + f
    s.sendall(data)


def send_msg(s, header, *blobs):
    send(s, [b"", header] + list(blobs))


def drain(s, wait_s=0.3):
    """Reads replies for up to wait_s; returns the decoded headers (or a note)."""
    s.settimeout(wait_s)
    replies = []
    try:
        while True:
            parts = []
            while True:
                flags, body = read_frame(s)
                if flags & 0x04:
                    continue  # a command (e.g. ERROR): not part of a message
                parts.append(body)
                if not flags & 0x01:
                    break
            try:
                replies.append(unpack(parts[1])[0] if len(parts) > 1 else parts)
            except Exception as e:  # noqa: BLE001 (a reply we cannot read is worth printing)
                replies.append("undecodable reply: %s" % e)
    except (socket.timeout, ConnectionError, OSError):
        pass
    s.settimeout(5)
    return replies


def describe(replies):
    out = []
    for r in replies:
        if isinstance(r, list) and len(r) >= 4 and r[1] == T_ERROR and isinstance(r[3], dict):
            out.append("Error(%s): %s" % (r[3].get("code"), str(r[3].get("message"))[:90]))
        elif isinstance(r, list) and len(r) >= 2:
            out.append("type %s" % r[1])
        else:
            out.append(str(r)[:60])
    return out


def scheduler_answers(phase):
    t0 = time.time()
    p = subprocess.run([RECETA, "runs", "--json"], capture_output=True, text=True, timeout=20)
    took = int((time.time() - t0) * 1000)
    if p.returncode != 0:
        print("rogue: FAIL: after phase '%s' `receta runs` failed (%d ms): %s" % (phase, took, p.stderr.strip()))
        sys.exit(1)
    print("rogue: phase '%s' done; `receta runs` answered in %d ms" % (phase, took))


def phase(name, fn):
    try:
        note = fn()
    except (ConnectionError, OSError) as e:
        note = "connection dropped by the scheduler (%s)" % e
    print("rogue: %s: %s" % (name, note))
    scheduler_answers(name)


# ---- the phases -------------------------------------------------------------------
def garbage_headers():
    s = connect()
    for n in (1, 2, 7, 100, 4096, 65536):
        for _ in range(5):
            send_msg(s, os.urandom(n))
    send_msg(s, b"\xc1")  # the byte msgpack never uses
    return "replies: %s" % sorted(set(describe(drain(s))))[:4]


def truncated():
    s = connect()
    whole = envelope(T_LIST_RUNS, {"limit": 5, "dag_name": "x" * 40}, request_id=7)
    for cut in range(1, len(whole)):
        send_msg(s, whole[:cut])
    send_msg(s, whole + b"\x00")  # trailing bytes
    replies = drain(s, 0.5)
    return "%d truncations sent, %d replies, e.g. %s" % (len(whole), len(replies), describe(replies)[:1])


def huge_claims():
    s = connect()
    claims = [
        b"\xdd\xff\xff\xff\xff",                   # array of 2^32-1 elements
        b"\xdf\xff\xff\xff\xff",                   # map of 2^32-1 entries
        b"\xdb\xff\xff\xff\xff",                   # string of 4 GiB
        b"\xc6\xff\xff\xff\xff",                   # binary of 4 GiB
        b"\x91" * 100000 + b"\xc0",                # arrays nested 100,000 deep
        b"\x94\x01\x16\x01\x81\xa5limit\xdd\x00\x10\x00\x01",  # a body field claiming 2^20+1 elements
        b"\x94\x01\x16\x01\xdd\x00\x40\x00\x00" + b"\xc0" * 100,  # body: array claiming 4 Mi nils, 100 present
        b"\xdc\xff\xff" + b"\x00" * 65535,         # 65535 small ints: fine msgpack, not an envelope
    ]
    for c in claims:
        send_msg(s, c)
    replies = drain(s, 0.5)
    return "%d claims sent, replies: %s" % (len(claims), sorted(set(describe(replies)))[:3])


def oversized():
    notes = []
    s = connect()
    big = 64 * 1024 * 1024 + 1                     # one byte over ZMQ_MAXMSGSIZE
    try:
        s.sendall(frame_header(0x01, 0) + frame_header(0x00, big))
        chunk = b"\x00" * (1 << 20)
        for _ in range(65):
            s.sendall(chunk)
        notes.append("64 MiB + 1 frame sent whole")
    except OSError as e:
        notes.append("64 MiB + 1 frame: dropped mid-frame (%s)" % e.__class__.__name__)
    s.close()
    s = connect()
    try:
        s.sendall(frame_header(0x01, 0) + b"\x02" + struct.pack(">Q", 1 << 62) + b"\x00" * 1000)
        notes.append("a frame claiming 2^62 bytes sent")
        notes.append("replies %s" % describe(drain(s, 0.5)))
    except OSError as e:
        notes.append("2^62 frame: dropped (%s)" % e.__class__.__name__)
    s.close()
    return "; ".join(notes)


def many_frames():
    s = connect()
    send(s, [b""] * 10000)                           # one message of 10,000 empty frames
    header = envelope(T_LIST_RUNS, {"limit": 1}, request_id=9)
    for _ in range(200):                             # 200 messages of 12 frames each
        send(s, [b"", header] + [b"x" * 10] * 10)
    send(s, [b"", header, b"blob", b"extra"])        # a blob frame where none belongs
    replies = drain(s, 0.5)
    return "%d replies, e.g. %s" % (len(replies), sorted(set(describe(replies)))[:2])


def unregistered_worker():
    s = connect()
    digest = "ab" * 32
    msgs = [
        envelope(T_HEARTBEAT, {"free_slots": 4, "running_attempt_ids": [ATTEMPT]}),
        envelope(T_ATTEMPT_STARTED, {"attempt_id": ATTEMPT, "pid": 1}),
    ] + [envelope(T_LOG_CHUNK, {"attempt_id": ATTEMPT, "stream": "stdout", "seq": seq,
                                "data": b"ROGUE-LOG line %d\n" % seq}) for seq in range(0, 50)] + [
        envelope(T_ATTEMPT_FINISHED, {
            "attempt_id": ATTEMPT, "exit_code": 0, "signal": 0, "timed_out": False,
            "outputs": [{"path": OUTPUT_PATH, "digest": "00" * 32, "size_bytes": 5, "executable": False}],
            "duration_ms": 1, "cpu_ms": 1, "max_rss_bytes": 1, "error": ""}, request_id=11),
        envelope(T_ATTEMPT_FINISHED, {"attempt_id": ATTEMPT, "exit_code": 1, "signal": 0, "timed_out": False,
                                      "outputs": [], "duration_ms": 1, "cpu_ms": 1, "max_rss_bytes": 1,
                                      "error": "rogue says it failed", "system_failure": True}, request_id=12),
        envelope(T_KILL_ATTEMPT, {"attempt_id": ATTEMPT, "reason": "rogue", "grace_ms": 0}),
        envelope(T_REGISTER, {"worker_id": 5, "name": ["not", "a", "string"]}, request_id=13),
        envelope(T_REGISTER, {}, request_id=14),
        envelope(T_HEARTBEAT, {"free_slots": 1, "running_attempt_ids": [ATTEMPT]}, version=2),
        envelope(9999, {"anything": 1}, request_id=15),
    ]
    for m in msgs:
        send_msg(s, m)
    # A blob upload from nowhere: chunk before begin, begin, a lying length, end with wrong bytes.
    send_msg(s, envelope(T_BLOB_PUT_CHUNK, {"digest": digest, "offset": 0, "length": 10}, request_id=16), b"0123456789")
    send_msg(s, envelope(T_BLOB_PUT_BEGIN, {"digest": digest, "size_bytes": 10}, request_id=17))
    send_msg(s, envelope(T_BLOB_PUT_CHUNK, {"digest": digest, "offset": 0, "length": 100}, request_id=17), b"0123456789")
    send_msg(s, envelope(T_BLOB_PUT_CHUNK, {"digest": digest, "offset": 0, "length": 10}, request_id=17), b"0123456789")
    send_msg(s, envelope(T_BLOB_PUT_END, {"digest": digest, "size_bytes": 10}, request_id=17))
    send_msg(s, envelope(T_BLOB_PUT_BEGIN, {"digest": "../../etc/passwd", "size_bytes": 10}, request_id=18))
    replies = drain(s, 0.5)
    return "%d forged messages, %d replies:\n    %s" % (len(msgs) + 6, len(replies),
                                                 "\n    ".join(sorted(set(describe(replies)))))


def zmtp_garbage():
    notes = []
    s = connect()
    foo = b"\x03FOO" + b"junk"
    s.sendall(frame_header(0x04, len(foo)) + foo)     # an unknown command
    s.sendall(b"\xf8\x05hello")                       # reserved flag bits set
    notes.append("unknown command and reserved flags: replies %s" % describe(drain(s, 0.3)))
    s.close()
    for _ in range(30):                               # greetings cut short, then gone
        c = socket.create_connection(("127.0.0.1", PORT), timeout=5)
        c.sendall(b"\xff\x00\x00\x00")
        c.close()
    notes.append("30 cut greetings")
    return "; ".join(notes)


phase("garbage header frames", garbage_headers)
phase("truncated msgpack", truncated)
phase("huge claimed sizes", huge_claims)
phase("oversized frames", oversized)
phase("many frames", many_frames)
phase("worker protocol from an unregistered peer", unregistered_worker)
phase("ZMTP-level garbage", zmtp_garbage)
print("rogue: all phases done")
