"""A man in the middle for the session attack tests: it stands where hixd
stands (every frame between a client and the enclave passes through it) and
tampers with the frames as an untrusted daemon could (attack (b) of
docs/attacks.md, "Protected inference").

The proxy listens on 127.0.0.1 and forwards to hixd's forwarded port, frame
by frame (docs/specs/hix-session.md §2). A Tamper decides, for each request
frame the client sends, what reaches hixd; injected frames' replies go to
the proxy's own log, never to the client."""

import socket
import struct
import threading

FRAME = struct.Struct("<IHHII")  # magic, type, flags, length, status
MAGIC = 0x31445848
REPLY = 0x8000
CALL, PUT = 0x03, 0x04


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("peer closed")
        buf += chunk
    return bytes(buf)


def recv_frame(sock):
    head = recv_exact(sock, FRAME.size)
    magic, ftype, flags, length, status = FRAME.unpack(head)
    if magic != MAGIC:
        raise ValueError("bad magic")
    return ftype, flags, status, recv_exact(sock, length)


def frame(ftype, payload, status=0):
    return FRAME.pack(MAGIC, ftype, 0, len(payload), status) + payload


class Tamper:
    """Decides per request frame. `kind` is the frame type, `index` counts
    frames of that type on this connection (0-based). Returns a list of
    (action, payload): ('send', p) forwards p and relays its reply to the
    client; ('inject', p) sends p and keeps its reply for the log."""

    def __call__(self, kind, index, payload):
        return [("send", payload)]


class Proxy:
    def __init__(self, upstream_port, tamper):
        self.upstream_port = upstream_port
        self.tamper = tamper
        self.injected = []  # (description, reply status, reply payload)
        self.lock = threading.Lock()
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4)
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client):
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=120)
        counts = {}
        try:
            while True:
                ftype, _, _, payload = recv_frame(client)
                index = counts.get(ftype, 0)
                counts[ftype] = index + 1
                for action, data in self.tamper(ftype, index, payload):
                    upstream.sendall(frame(ftype, data))
                    rtype, _, rstatus, rpayload = recv_frame(upstream)
                    if action == "send":
                        client.sendall(frame(rtype, rpayload, rstatus))
                    else:
                        with self.lock:
                            self.injected.append((f"type={ftype} index={index}", rstatus, rpayload))
        except (ConnectionError, ValueError, OSError):
            pass
        finally:
            client.close()
            upstream.close()

    def close(self):
        self.listener.close()


def flip(data, offset):
    """data with one bit flipped at offset (negative: from the end)."""
    b = bytearray(data)
    b[offset] ^= 0x01
    return bytes(b)
