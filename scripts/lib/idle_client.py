"""One keep-alive connection sending the benchmark's tools/call every GAP
seconds; prints the median time to the whole answer, in microseconds.

hey reports latencies in whole 0.1 ms steps, too coarse for an idle call
whose proxies differ by tens of microseconds; this client times each call
with the monotonic clock instead.

    python3 idle_client.py URL KEY SESSION GAP CALLS
"""
import socket
import statistics
import sys
import time
import urllib.parse

BODY = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hello"}}}'
WARMUP = 20


def request(url, key, session):
    head = [
        f"POST {url.path} HTTP/1.1",
        f"Host: {url.netloc}",
        "Content-Type: application/json",
        "Accept: application/json, text/event-stream",
        "MCP-Protocol-Version: 2025-06-18",
        f"Content-Length: {len(BODY)}",
    ]
    if key:
        head.append(f"X-Subscription-Key: {key}")
    if session:
        head.append(f"Mcp-Session-Id: {session}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + BODY


def answered(buffer):
    """Whether `buffer` holds a whole response (chunked or with a length)."""
    head, found, rest = buffer.partition(b"\r\n\r\n")
    if not found:
        return False
    fields = head.lower()
    if b"transfer-encoding: chunked" in fields:
        return rest.endswith(b"0\r\n\r\n")
    for line in fields.split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return len(rest) >= int(line.split(b":")[1])
    return False


def main():
    url = urllib.parse.urlsplit(sys.argv[1])
    key, session, gap, calls = sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5])
    payload = request(url, key, session)
    connection = socket.create_connection((url.hostname, url.port))
    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    times = []
    for i in range(WARMUP + calls):
        start = time.perf_counter()
        connection.sendall(payload)
        buffer = b""
        while not answered(buffer):
            chunk = connection.recv(65536)
            if not chunk:
                sys.exit(f"{sys.argv[1]} closed the connection")
            buffer += chunk
        elapsed = time.perf_counter() - start
        if not buffer.startswith(b"HTTP/1.1 200"):
            status = buffer.split(b"\r\n", 1)[0]
            sys.exit(f"{sys.argv[1]} answered {status!r}")
        if i >= WARMUP:
            times.append(elapsed * 1e6)
        time.sleep(gap)
    print(f"{statistics.median(times):.0f}")


if __name__ == "__main__":
    main()
