"""A full TCP connect scan, for the tests that prove what a host publishes. Importable, or run on another
workstation (`docker exec -i NAME python3 - ADDRESS < port_scan.py`): prints the open ports as JSON."""

import json
import selectors
import socket
import sys


def open_tcp_ports(address, ports, batch=2000, timeout=2.0):
    """Every port in ports that accepts a TCP connection: a full connect scan, batch ports at a time."""
    found = []
    ports = list(ports)
    for start in range(0, len(ports), batch):
        selector = selectors.DefaultSelector()
        for port in ports[start : start + batch]:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            sock.connect_ex((address, port))
            selector.register(sock, selectors.EVENT_WRITE, port)
        pending = len(selector.get_map())
        while pending:
            events = selector.select(timeout)
            if not events:
                break  # what is left is filtered: no answer at all counts as closed
            for key, _mask in events:
                if key.fileobj.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                    found.append(key.data)
                selector.unregister(key.fileobj)
                key.fileobj.close()
                pending -= 1
        for key in list(selector.get_map().values()):
            key.fileobj.close()
        selector.close()
    return sorted(found)


if __name__ == "__main__":
    print(json.dumps(open_tcp_ports(sys.argv[1], range(1, 65536))))
