"""The floor: a bare Python loop over stdio pipes, no framework.

Reads one line at a time from stdin:
  - a line starting with '!' is a JSON string of code: it is exec'd (its prints go to
    stdout, as they would in any script) and then one line "\x1e" marks the end;
  - a line starting with '{' is a JSON request {"id", "code"}: the code is eval'd and the
    reply is one JSON line {"id", "value": repr(value)} (the floor of a JSON protocol);
  - any other line is echoed back unchanged.
With --import a,b,c it imports those modules before it answers anything.
Run with -u, like the PyREPL3 worker.
"""

import sys

if len(sys.argv) > 2 and sys.argv[1] == "--import":
    for name in sys.argv[2].split(","):
        __import__(name)


def main():
    read = sys.stdin.buffer.readline
    write = sys.stdout.buffer.write
    namespace = {"__name__": "__main__"}
    while True:
        line = read()
        if not line:
            return
        if line[:1] == b"!":
            import json

            exec(json.loads(line[1:]), namespace)
            sys.stdout.flush()
            write(b"\x1e\n")
        elif line[:1] == b"{":
            import json

            request = json.loads(line)
            value = eval(request["code"], namespace)
            write((json.dumps({"id": request["id"], "value": repr(value)}) + "\n").encode())
        else:
            write(line)


main()
