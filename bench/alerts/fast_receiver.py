#!/usr/bin/env python3
"""A fast webhook receiver for the alert benchmark (asyncio, HTTP/1.1).

    bench/alerts/fast_receiver.py PORT LOG

Answers every POST with 200 {"ok":true} at once, keeping connections
alive, and appends "<arrival unix time> <body>" per request to LOG (flushed
every 0.2 s and at SIGTERM).  It parses only what a POST with
Content-Length needs, so that the receiver is not what limits the sender:
test/webhook_receiver.py, the tests' receiver, is simpler and slower.
"""
import asyncio
import signal
import sys
import time

ANSWER = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
          b"Content-Length: 11\r\n\r\n{\"ok\":true}")
lines = []


async def serve(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length) if length else b""
            lines.append(b"%.6f %s\n" % (time.time(), body))
            writer.write(ANSWER)
    except (asyncio.IncompleteReadError, asyncio.CancelledError, ConnectionError):
        pass
    finally:
        writer.close()


async def flush(log):
    while True:
        await asyncio.sleep(0.2)
        write_out(log)


def write_out(log):
    global lines
    if lines:
        done, lines = lines, []
        log.write(b"".join(done))
        log.flush()


async def main(port, path):
    log = open(path, "ab")
    server = await asyncio.start_server(serve, "127.0.0.1", port, backlog=1024)
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
    flusher = asyncio.ensure_future(flush(log))
    async with server:
        await stop
    flusher.cancel()
    write_out(log)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
