"""Where an idle call's time goes, hop by hop, from a loopback packet capture.

Usage: idle_hops.py DUMP UPSTREAM_PORT LABEL=PORT...
DUMP is `tcpdump -i lo -n -tt` output (data-carrying packets) taken while
each proxy, in turn, served calls on one idle connection. For each call
through a proxy: request in (a packet to the proxy's port) -> forwarded
(the next packet to the upstream's port) -> answered by the upstream (its
last packet of the call) -> answer out (the proxy's last packet of the
call), a call ending where the proxy's next request arrives. Prints a markdown
table row per proxy: the medians of the three legs and of their sum.
"""
import re
import statistics
import sys

PACKET = re.compile(r"(\d+\.\d+) IP 127\.0\.0\.1\.(\d+) > 127\.0\.0\.1\.(\d+): .* length (\d+)")


def packets(path):
    for line in open(path):
        match = PACKET.match(line)
        if match and int(match.group(4)) > 0:
            yield float(match.group(1)), match.group(2), match.group(3)


def legs(trace, port, upstream):
    """(in -> forwarded, upstream, answer -> out) of each call through `port`, in µs."""
    calls = []
    for i, (arrived, _, destination) in enumerate(trace):
        if destination != port:
            continue
        # The call ends where the proxy's next request begins: its answer is
        # the proxy's packets (to the client) and the upstream's before that.
        following = next((j for j in range(i + 1, len(trace)) if trace[j][2] == port), len(trace))
        call = trace[i:following]
        forwarded = next((t for t, _, d in call if d == upstream), None)
        answers = [t for t, s, _ in call if s == upstream and forwarded and t >= forwarded]
        outs = [t for t, s, _ in call if s == port and answers and t >= answers[0]]
        if not outs:
            continue
        # Both sides may write an answer in more than one packet (SSE: the
        # head and priming event, then the message; nginx passes the head on
        # as it comes, mcpgate once the message is there): the upstream's leg
        # ends at its last packet, the proxy's at its last.
        out = outs[-1]
        answered = max(t for t in answers if t <= out)
        # A call whose legs run past 20 ms met another path's packets: not an idle call.
        if out - arrived < 0.02:
            calls.append(((forwarded - arrived) * 1e6, (answered - forwarded) * 1e6, (out - answered) * 1e6))
    return calls


def main():
    trace = list(packets(sys.argv[1]))
    upstream = sys.argv[2]
    for pair in sys.argv[3:]:
        label, port = pair.rsplit("=", 1)
        calls = legs(trace, port, upstream)
        if not calls:
            print(f"| {label} | 0 | — | — | — | — |")
            continue
        medians = [statistics.median(call[i] for call in calls) for i in range(3)]
        total = statistics.median(sum(call) for call in calls)
        print(f"| {label} | {len(calls)} | {medians[0]:.0f} | {medians[1]:.0f} | {medians[2]:.0f} | {total:.0f} |")


main()
