"""A throw-away CA and the keys a test apiserver needs, made with the machine's openssl.

Two days of validity: long enough for any run, short enough that a leaked file
is worthless.  The server certificate names 127.0.0.1 and localhost only.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

# Each step as openssl's own words, run in the apiserver's directory.
_STEPS = [
    "req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=test-ca -keyout ca.key -out ca.crt",
    "req -newkey rsa:2048 -nodes -subj /CN=kube-apiserver -keyout server.key -out server.csr",
    "x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile san.cnf -out server.crt",
    "genrsa -out sa.key 2048",  # signs and checks ServiceAccount tokens
]


def make_certificates(directory: Path) -> None:
    """ca.crt/ca.key, server.crt/server.key (signed by the CA) and sa.key in `directory`."""
    (directory / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for step in _STEPS:
        subprocess.run(["openssl", *step.split()], cwd=directory, check=True, capture_output=True)
