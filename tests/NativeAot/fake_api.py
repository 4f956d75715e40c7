"""A scripted Kubernetes API server for tests/NativeAot/run.sh (loopback only, stops after 120 s by itself).

Lists one EndpointSlice of prod/shop with one endpoint (127.0.0.1). The first watch sends a MODIFIED event that
adds 127.0.0.2, then an ERROR line with a 410 Expired Status, and ends; from then on lists (discovery's relists and
its metadata-only confirmations) show that second version, and every later watch sends the MODIFIED event again and
then a BOOKMARK a second until the client goes away.

    fake_api.py PORT UPSTREAM_PORT [--token TOKEN] [--tls CERT KEY]
--token: every request must carry "Authorization: Bearer TOKEN" (else 401); --tls: serve HTTPS with that certificate."""
import json, ssl, sys, threading, time
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler

port, upstream_port = int(sys.argv[1]), int(sys.argv[2])
args = sys.argv[3:]
token = args[args.index("--token") + 1] if "--token" in args else None
tls = (args[args.index("--tls") + 1], args[args.index("--tls") + 2]) if "--tls" in args else None
watches = 0
lock = threading.Lock()


def endpoint_slice(addresses, version):
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "shop-abc", "namespace": "prod", "resourceVersion": str(version),
                         "labels": {"kubernetes.io/service-name": "shop", "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}},
            "addressType": "IPv4", "endpoints": [{"addresses": [a], "conditions": {"ready": True}} for a in addresses],
            "ports": [{"name": "http", "port": upstream_port, "protocol": "TCP"}]}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        sys.stderr.write(self.path + "\n")

    def line(self, obj):
        data = (json.dumps(obj) + "\n").encode()
        self.wfile.write(b"%x\r\n" % len(data) + data + b"\r\n")
        self.wfile.flush()

    def do_GET(self):
        global watches
        if token is not None and self.headers.get("Authorization") != "Bearer " + token:
            sys.stderr.write("401 " + self.path + "\n")
            body = b'{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Unauthorized","code":401}'
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if "watch=true" not in self.path and "watch=1" not in self.path:
            with lock:
                modified = watches > 0
            # What the API server holds: the MODIFIED event's version once it has happened.
            version = 101 if modified else 100
            addresses = ["127.0.0.1", "127.0.0.2"] if modified else ["127.0.0.1"]
            body = json.dumps({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSliceList", "metadata": {"resourceVersion": str(version)},
                               "items": [endpoint_slice(addresses, version)]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        with lock:
            watches += 1
            first = watches == 1
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            self.line({"type": "MODIFIED", "object": endpoint_slice(["127.0.0.1", "127.0.0.2"], 101)})
            if first:
                self.line({"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                                        "message": "too old resource version", "reason": "Expired", "code": 410}})
                self.wfile.write(b"0\r\n\r\n")
                return
            for _ in range(60):
                self.line({"type": "BOOKMARK", "object": {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"resourceVersion": "101"}}})
                time.sleep(1)
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass


server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
if tls is not None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*tls)
    server.socket = context.wrap_socket(server.socket, server_side=True)
threading.Timer(120, server.shutdown).start()
server.serve_forever()
