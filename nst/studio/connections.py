"""Bounded connections: deadlines for each connection's request head, body and writes, and a cap on their number.

So sockets that send nothing (or too little) cannot starve the studio.

What uvicorn 0.55's h11 protocol enforces by itself: `timeout_keep_alive` closes a connection idle after an
answer, but a connection that never completes a request head (nothing sent, or half a head trickled in) has no
timer at all (measured: still open after 45 s; with `ulimit -n 256`, 300 such sockets left an authorised request
unanswered, the server out of file descriptors). `limit_concurrency` does not help: it counts idle connections too
and answers 503 to the next *request* once there are that many, so idle sockets would lock everyone out sooner.
The request head's size is bounded by h11 (16 KB). This protocol is uvicorn's own, with:
- a head deadline: a request head must be complete within `head_timeout` seconds of the connection opening or of
  the previous answer; bytes trickled in do not extend it;
- a body timeout: while a request body is coming, `body_idle_timeout` seconds without a byte end the connection
  (not while the server itself has paused reading);
- a write timeout: an answer the client does not read for `write_timeout` seconds drops the connection;
- a cap: with more than `cap` connections open, the one idle the longest (no request being answered) is closed,
  never one being answered; when every one is busy, the newest is closed at once.
The cap follows the file descriptor limit (connection_cap), below it by a margin for the files and pipes the
studio opens and for the connections accepted at once (BACKLOG).
"""

import dataclasses
import resource
import time

BACKLOG = 64
"""Connections waiting in the kernel to be accepted; asyncio accepts at most this many in one go, before the cap
can close any, so the cap leaves room for them."""


@dataclasses.dataclass(frozen=True)
class Limits:
    """A server's connection limits (seconds, connections)."""

    head_timeout: float = 10.0
    body_idle_timeout: float = 15.0
    write_timeout: float = 15.0
    keep_alive: float = 5.0  # uvicorn's timeout_keep_alive: idle after an answer
    cap: int = 256


def connection_cap(most=256, reserve=128):
    """How many connections the server may hold: half of what the file descriptor limit leaves after `reserve`
    (a connection may also hold a file it serves), at most `most`, at least 8."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY:
        soft = 1 << 20
    return max(8, min(most, (soft - reserve) // 2))


def bounded_protocol(limits):
    """uvicorn's h11 protocol class with `limits` (pass it as uvicorn.Config(http=...))."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class BoundedH11Protocol(H11Protocol):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.deadline = None  # the head or body timer
            self.write_deadline = None
            self.idle_since = time.monotonic()

        def connection_made(self, transport):
            super().connection_made(transport)
            self.idle_since = time.monotonic()
            self.arm(limits.head_timeout)
            make_room(self)

        def connection_lost(self, exc):
            self.disarm()
            if self.write_deadline is not None:
                self.write_deadline.cancel()
            super().connection_lost(exc)

        def data_received(self, data):
            cycle = self.cycle
            super().data_received(data)
            if self.transport.is_closing():
                return
            if self.cycle is not cycle:  # a request head came: the app has it
                self.request_begun()
            elif self.busy() and self.conn.their_state is h11.SEND_BODY:
                self.arm(limits.body_idle_timeout)  # more of the body: its idle clock starts again

        def on_response_complete(self):
            cycle = self.cycle
            super().on_response_complete()
            if self.transport.is_closing():
                return
            self.idle_since = time.monotonic()
            if self.cycle is cycle:  # waiting for the next request's head (uvicorn's keep-alive timer is sooner)
                self.arm(limits.head_timeout)
            else:  # a pipelined request began
                self.request_begun()

        def pause_writing(self):
            super().pause_writing()
            if self.write_deadline is None:  # then dropped, not closed: closing would wait for the unread answer
                self.write_deadline = self.loop.call_later(limits.write_timeout, self.transport.abort)

        def resume_writing(self):
            super().resume_writing()
            if self.write_deadline is not None:
                self.write_deadline.cancel()
                self.write_deadline = None

        def request_begun(self):
            """A request head was read: its body (if one is still coming) has an idle timeout; the answer none."""
            if self.conn.their_state is h11.SEND_BODY:
                self.arm(limits.body_idle_timeout)
            else:
                self.disarm()

        def busy(self):
            """Whether a request on this connection is being answered."""
            return self.cycle is not None and not self.cycle.response_complete

        def arm(self, seconds):
            self.disarm()
            self.deadline = self.loop.call_later(seconds, self.expired)

        def disarm(self):
            if self.deadline is not None:
                self.deadline.cancel()
                self.deadline = None

        def expired(self):
            self.deadline = None
            if self.busy() and self.flow.read_paused:  # the server is not reading the body yet: not the client's fault
                self.arm(limits.body_idle_timeout)
            else:
                self.close()

        def close(self):
            self.disarm()
            if not self.transport.is_closing():
                self.transport.close()

    def make_room(new):
        """Above the cap: close the connection idle the longest, else the new one."""
        open_ = [c for c in new.connections if not c.transport.is_closing()]
        if len(open_) <= limits.cap:
            return
        idle = [c for c in open_ if c is not new and isinstance(c, BoundedH11Protocol) and not c.busy()]
        (min(idle, key=lambda c: c.idle_since) if idle else new).close()

    return BoundedH11Protocol
