"""moto_server with DynamoDB's atomicity: one request at a time.

Real DynamoDB applies a conditional write (and a transaction) atomically;
moto's threaded server checks the condition and writes in separate steps, so
two concurrent conditional writes can both pass. kvsync's locks and event
claims rely on that atomicity, so the local stack serializes requests.

    .venv/bin/python infra/scripts/moto_atomic.py -H 127.0.0.1 -p 5000
"""

import argparse
import os
import signal
import sys
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple


def serialized(app):
    lock = threading.Lock()

    def handle(environ, start_response):
        with lock:
            # Consume the whole answer inside the lock: the work happens there.
            return list(app(environ, start_response))

    return handle


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, serialized(app), threaded=True)


if __name__ == "__main__":
    main()
