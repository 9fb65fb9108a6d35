#!/usr/bin/env python3
"""Writes the seeds of the `agentx_session` fuzz target into seeds/agentx_session/: what a
master sends after the subagent connected (answers to Open and Register, then requests),
hand-built so the fuzzer starts past the handshake. Run from fuzz/: python3 seeds/agentx_session.py"""
import os
import struct

LINBIT = [1, 3, 6, 1, 4, 1, 23302]
META = LINBIT + [1, 1]
ENTRY = LINBIT + [1, 2, 1]


def pdu(ty, payload, session=42, transaction=0, packet=0, big=True):
    flags = 0x10 if big else 0
    e = ">" if big else "<"
    return struct.pack(e + "BBBBIIII", 1, ty, flags, 0, session, transaction, packet,
                       len(payload)) + payload


def oid(ids, include=False, e=">"):
    prefix = 0
    if len(ids) >= 5 and ids[:4] == [1, 3, 6, 1] and 1 <= ids[4] <= 255:
        prefix, ids = ids[4], ids[5:]
    return struct.pack(e + "BBBB", len(ids), prefix, int(include), 0) + b"".join(
        struct.pack(e + "I", i) for i in ids)


def rng(start, end=(), include=False, e=">"):
    return oid(list(start), include, e) + oid(list(end), False, e)


def response(error=0, packet=0, session=42):
    return pdu(18, struct.pack(">IHH", 0, error, 0), session=session, packet=packet)


def handshake():
    return response(packet=1) + response(packet=2)


GET, GETNEXT, GETBULK, TESTSET, COMMIT, UNDO, CLEANUP, PING, CLOSE = 5, 6, 7, 8, 9, 10, 11, 13, 2

seeds = {
    "walk": handshake()
    + pdu(GETNEXT, rng(LINBIT), transaction=7, packet=10)
    + pdu(GETNEXT, rng(ENTRY + [2, 1000]), transaction=8, packet=11)
    + pdu(GETNEXT, rng(ENTRY + [49, 1001]), transaction=9, packet=12)
    + pdu(GET, rng(META + [1, 0]) + rng(META + [2]) + rng(ENTRY + [3, 5]) + rng([1, 2, 3]),
          transaction=10, packet=13)
    + pdu(GETBULK, struct.pack(">HH", 1, 10) + rng(LINBIT) + rng(ENTRY + [1]) + rng(ENTRY + [5]),
          transaction=11, packet=14)
    + pdu(TESTSET, struct.pack(">HH", 2, 0) + oid(ENTRY + [8, 1000]) + struct.pack(">I", 5),
          transaction=12, packet=15)
    + pdu(COMMIT, b"", packet=16) + pdu(UNDO, b"", packet=17) + pdu(CLEANUP, b"", packet=18)
    + pdu(PING, b"", packet=19)
    + response(packet=20)
    + pdu(12, b"\0\0\0\0", packet=21)
    + pdu(CLOSE, struct.pack(">BBBB", 5, 0, 0, 0), packet=22)
    + pdu(GETNEXT, rng(LINBIT), packet=23),
    "bounded_ranges": handshake()
    + pdu(GETNEXT, rng(ENTRY + [1, 1000], ENTRY + [2], include=True)
          + rng(ENTRY + [1, 1001], ENTRY + [1, 1002]) + rng([2]) + rng([]), packet=30)
    + pdu(GETBULK, struct.pack(">HH", 0, 3) + rng(ENTRY, ENTRY + [3]), packet=31),
    "huge_bulk": handshake()
    + pdu(GETBULK, struct.pack(">HH", 0, 65535) + rng(LINBIT) * 200, packet=40),
    "open_refused": response(error=256, packet=1) + pdu(GETNEXT, rng(LINBIT), packet=3),
    "register_refused": response(packet=1) + response(error=263, packet=2),
    "open_answer_for_another_packet": response(packet=9) + handshake(),
    "session_id_changes": response(packet=1, session=7) + response(packet=2, session=8)
    + pdu(GET, rng(META + [1, 0]), session=1234, packet=50),
    "truncated": handshake() + pdu(GETNEXT, rng(LINBIT), packet=60)[:-3],
    "oversized_length": handshake() + struct.pack(">BBBBIIII", 1, GET, 0x10, 0, 42, 0, 61, 1 << 24),
    "little_endian": handshake()
    + pdu(GETNEXT, rng(LINBIT, e="<"), packet=70, big=False)
    + pdu(GET, rng(META + [2, 0], e="<"), packet=71, big=False),
}

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "agentx_session")
os.makedirs(out, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
