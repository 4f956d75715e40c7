"""A scripted Kubernetes API server for tests/NativeAot/controllers.sh (loopback only, stops after 120 s by itself).

Serves, in namespace shop, what the Ingress and Gateway API controllers read: IngressClass lb and an Ingress sending
host ingress.test to Service web; GatewayClass lb (our controller's), Gateway gw with one HTTP listener on port 80,
an HTTPRoute sending /web to Service web, a GRPCRoute sending pkg.Echo/Say to Service grpc (whose port says
kubernetes.io/h2c); and the two Services' EndpointSlices. Watches send a bookmark a second until the client goes
away; nothing changes. Every request path is logged to stderr.

    fake_controller_api.py PORT WEB_IP:WEB_PORT GRPC_IP:GRPC_PORT"""
import json, sys, threading, time
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
from urllib.parse import urlparse

port = int(sys.argv[1])
web_ip, web_port = sys.argv[2].split(":")
grpc_ip, grpc_port = sys.argv[3].split(":")
GW = "gateway.networking.k8s.io"
CONTROLLER = "loadbalancing.dev/gateway-controller"  # GatewayControllerOptions.DefaultControllerName
INGRESS_CONTROLLER = "loadbalancing.dev/ingress-controller"  # IngressControllerOptions.DefaultControllerName


def meta(name, ns=None, **extra):
    m = {"name": name, "resourceVersion": "1", "generation": 1, "creationTimestamp": "2026-01-01T00:00:00Z", "uid": name + "-uid"}
    if ns:
        m["namespace"] = ns
    m.update(extra)
    return m


def service(name, port, app_protocol=None):
    p = {"port": port, "protocol": "TCP"}
    if app_protocol:
        p["appProtocol"] = app_protocol
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta(name, "shop"), "spec": {"ports": [p], "clusterIP": "10.96.0.10"}}


def slice_(service_name, ip, port):
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": meta(service_name + "-1", "shop", labels={"kubernetes.io/service-name": service_name}),
            "addressType": "IPv4", "endpoints": [{"addresses": [ip], "conditions": {"ready": True}}],
            "ports": [{"name": "", "port": int(port), "protocol": "TCP"}]}


OBJECTS = {
    "ingressclasses": [{"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": meta("lb"), "spec": {"controller": INGRESS_CONTROLLER}}],
    "ingresses": [{"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta("shop", "shop"),
                   "spec": {"ingressClassName": "lb", "rules": [{"host": "ingress.test", "http": {"paths": [
                       {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}}],
    "gatewayclasses": [{"apiVersion": GW + "/v1", "kind": "GatewayClass", "metadata": meta("lb"), "spec": {"controllerName": CONTROLLER}}],
    "gateways": [{"apiVersion": GW + "/v1", "kind": "Gateway", "metadata": meta("gw", "shop"),
                  "spec": {"gatewayClassName": "lb", "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}]}}],
    "httproutes": [{"apiVersion": GW + "/v1", "kind": "HTTPRoute", "metadata": meta("web", "shop"),
                    "spec": {"parentRefs": [{"name": "gw"}], "hostnames": ["shop.test"],
                             "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/web"}}],
                                        "backendRefs": [{"name": "web", "port": 80}]}]}}],
    "grpcroutes": [{"apiVersion": GW + "/v1", "kind": "GRPCRoute", "metadata": meta("grpc", "shop"),
                    "spec": {"parentRefs": [{"name": "gw"}],
                             "rules": [{"matches": [{"method": {"type": "Exact", "service": "pkg.Echo", "method": "Say"}}],
                                        "backendRefs": [{"name": "grpc", "port": 50051}]}]}}],
    "referencegrants": [],
    "services": [service("web", 80), service("grpc", 50051, "kubernetes.io/h2c")],
    "namespaces": [{"apiVersion": "v1", "kind": "Namespace", "metadata": meta("shop")}],
    "endpointslices": [slice_("web", web_ip, web_port), slice_("grpc", grpc_ip, grpc_port)],
}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        sys.stderr.write(self.path + "\n")

    def send_json(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urlparse(self.path)
        plural = url.path.rstrip("/").split("/")[-1]
        if plural not in OBJECTS:
            self.send_json(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404})
            return
        if "watch=true" not in url.query and "watch=1" not in url.query:
            self.send_json(200, {"kind": "List", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": OBJECTS[plural]})
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for _ in range(60):
                data = (json.dumps({"type": "BOOKMARK", "object": {"kind": "Bookmark", "metadata": {"resourceVersion": "1"}}}) + "\n").encode()
                self.wfile.write(b"%x\r\n" % len(data) + data + b"\r\n")
                self.wfile.flush()
                time.sleep(1)
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass


server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
server.daemon_threads = True
threading.Timer(120, server.shutdown).start()
server.serve_forever()
