#!/usr/bin/env python3
"""An independent InfraKit JSON-RPC client, standard library only.

It speaks the wire protocol as written in the original's docs (JSON-RPC 2.0, POST / over HTTP/1.1
on a unix socket), sharing no code with the Rust implementation, and prints one line per call so
that a test can check what it saw.

Usage: infrakit_client.py <socket>
"""

import http.client
import json
import socket
import sys


class UnixConnection(http.client.HTTPConnection):
    """HTTP/1.1 over a unix socket; one connection is kept alive for every call."""

    def __init__(self, path):
        super().__init__("rpc")
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


class Client:
    def __init__(self, path):
        self.connection = UnixConnection(path)
        self.next_id = 1

    def call(self, method, params):
        """Returns (result, None) or (None, (code, message))."""
        body = json.dumps({"jsonrpc": "2.0", "method": method, "params": params, "id": self.next_id})
        self.next_id += 1
        self.connection.request("POST", "/", body=body, headers={"Content-Type": "application/json"})
        response = self.connection.getresponse()
        reply = json.loads(response.read())
        if response.status != 200 or reply.get("jsonrpc") != "2.0" or reply.get("id") != self.next_id - 1:
            raise SystemExit(f"bad reply to {method}: HTTP {response.status} {reply}")
        if reply.get("error") is not None:
            return None, (reply["error"]["code"], reply["error"]["message"])
        return reply["result"], None


def main(path):
    client = Client(path)

    hello, _ = client.call("Handshake.Hello", {})
    for interface in sorted(hello["Objects"]):
        names = ",".join(o["Name"] for o in hello["Objects"][interface])
        print(f"hello {interface} {names}")

    spec = {"Properties": {"Note": "from python"}, "Tags": {"tier": "web"}, "Init": "", "LogicalID": None,
            "Attachments": None}
    provisioned, _ = client.call("Instance.Provision", {"Type": "compute", "Spec": spec})
    print(f"provision {provisioned['Type']} {provisioned['ID']}")

    described, _ = client.call("Instance.DescribeInstances",
                               {"Type": "compute", "Tags": {"tier": "web"}, "Properties": True})
    for description in described["Descriptions"]:
        print(f"describe {description['ID']} {description['Properties']['Note']}")

    _, error = client.call("Instance.Destroy",
                           {"Type": "compute", "Instance": "nope", "Context": {"Reason": "terminate"}})
    print(f"destroy error {error[0]} {error[1]}")

    group = {"ID": "workers", "Properties": {"Allocation": {"Size": 2}}}
    committed, _ = client.call("Group.CommitGroup", {"Name": "simulator/workers", "Spec": group, "Pretend": False})
    print(f"commit {committed['Name']} {committed['ID']} {committed['Details']}")

    inspected, _ = client.call("Group.InspectGroups", {"Name": "simulator/workers", "ID": ""})
    print("inspect " + ",".join(g["ID"] for g in inspected["Groups"]))

    size, _ = client.call("Group.Size", {"Name": "simulator/workers", "ID": "workers"})
    print(f"size {size['Size']}")

    _, error = client.call("Group.SetSize", {"Name": "simulator/workers", "ID": "workers", "Size": -1})
    print(f"set-size error {error[0]} {error[1]}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    main(sys.argv[1])
