"""moto server with DynamoDB's write isolation.

moto's DynamoDB evaluates a condition and applies the write without a lock, so two concurrent
conditional writes (or transactions) can both pass their conditions, which real DynamoDB never
allows. Ferry's correctness rests on those conditions (a duplicate delivery must change nothing),
so this wrapper runs DynamoDB requests one at a time. Everything else (SQS long polls included)
stays concurrent. Usage: moto_server.py [-H HOST] [-p PORT]
"""

import argparse
import os
import signal
import sys
import threading

from werkzeug.serving import run_simple

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))

    inner = DomainDispatcherApplication(create_backend_app)
    dynamodb = threading.Lock()

    def app(environ, start_response):
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            with dynamodb:
                # Drain the response inside the lock: the write happens while it is produced.
                return list(inner(environ, start_response))
        return inner(environ, start_response)

    run_simple(
        args.host,
        args.port,
        app,
        threaded=True,
        use_reloader=False,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
