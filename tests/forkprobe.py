"""Run by tests/e2e/test_forkserver.py through the fork server: prints what the process has of its own as
JSON (pid, parent, environment, working directory, stdin, argv, threads, sys.path[0]), then exits with the
code given as its first argument."""

import json
import os
import sys
import threading

print(json.dumps({"pid": os.getpid(), "ppid": os.getppid(), "env": dict(os.environ), "cwd": os.getcwd(),
                  "stdin": sys.stdin.read(), "argv": sys.argv[1:], "threads": threading.active_count(),
                  "path0": sys.path[0], "main": __name__}))
print("to stderr", file=sys.stderr)
sys.exit(int(sys.argv[1]))
