"""A captive-portal page for a lab zone: answers GET / with a small Spanish page. Bounded by --seconds.

python tests/portal_server.py --bind 10.213.4.2 --port 80 --seconds 120
"""

from __future__ import annotations

import argparse
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PAGE = "<html><body><h1>Zona Digital</h1><p>Portal cautivo: acepte los términos para navegar.</p></body></html>"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = PAGE.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class Server(ThreadingHTTPServer):
    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN: a DNS query that, inside a lab
        # namespace with no resolver, waits 10 s for nothing.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bind", required=True)
    ap.add_argument("--port", type=int, default=80)
    ap.add_argument("--seconds", type=float, default=120)
    args = ap.parse_args()
    server = Server((args.bind, args.port), Handler)
    threading.Timer(args.seconds, server.shutdown).start()
    print("ready", flush=True)
    server.serve_forever(poll_interval=0.2)


if __name__ == "__main__":
    main()
