"""The Kubernetes API: the only package that imports kubernetes or urllib3.

api.py         pod metadata reads, conditional patches and Events; errors mapped
connection.py  what a request needs: a transport and credentials
connect.py     chooses the source: in-cluster first, then the kubeconfig
incluster.py   a pod's service account, read without the kubernetes package
httpspool.py   the in-cluster transport: keep-alive http.client connections, no urllib3
kubeconfig.py  the kubernetes client's kubeconfig loader and urllib3 pool, imported only
               on that path
"""

from .api import FIELD_MANAGER, Kube, event_body
from .connect import connect
from .connection import Connection

__all__ = ["FIELD_MANAGER", "Connection", "Kube", "connect", "event_body"]
