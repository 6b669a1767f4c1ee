"""We test these aspects of the in-cluster set-up, without a server:

- the token file: read at start (blanks stripped), read again after its period or after
  a 401 (reset), the last good token kept when a later read fails, and refused at start
  when empty, unreadable, too long or holding what is not printable ASCII (a header
  break above all), without ever echoing its content;
- the choice of source: a missing token or CA means "not in this pod" (the kubeconfig
  is tried), a CA that does not load is an error, an IPv6 service address is bracketed;
- the error when neither source works names both reasons.
"""

import os
import sys

import pytest

from function.errors import ConfigError
from function.kube import connect, incluster
from function.kube.incluster import NotInCluster, TokenFile, read_token


def write(path, text: str) -> None:
    fresh = path.with_name(".new")
    fresh.write_text(text)
    os.replace(fresh, path)


def test_token_is_read_stripped(tmp_path):
    """A trailing newline (as `kubectl create token > file` leaves) is not part of the token."""
    write(tmp_path / "token", "  abc.def-ghi_\n")
    assert TokenFile(tmp_path / "token").header() == "Bearer abc.def-ghi_"


def test_token_is_read_again_after_its_period(tmp_path):
    """With a zero period every request sees the file as it is now."""
    write(tmp_path / "token", "first")
    token = TokenFile(tmp_path / "token", period=0.0)
    write(tmp_path / "token", "second")
    assert token.header() == "Bearer second"


def test_token_is_kept_within_its_period_until_a_401(tmp_path):
    """Within the period the cached token is used; reset() (after a 401) reads the file at once."""
    write(tmp_path / "token", "first")
    token = TokenFile(tmp_path / "token", period=3600.0)
    write(tmp_path / "token", "second")
    assert token.header() == "Bearer first"
    token.reset()
    assert token.header() == "Bearer second"


@pytest.mark.parametrize("damage", ["remove", "empty", "newline-inside"])
def test_a_failed_later_read_keeps_the_last_good_token(tmp_path, damage):
    """A rotation caught half made does not throw the working token away."""
    path = tmp_path / "token"
    write(path, "good")
    token = TokenFile(path, period=0.0)
    if damage == "remove":
        path.unlink()
    else:
        write(path, "" if damage == "empty" else "evil\r\nX-Injected: 1")
    assert token.header() == "Bearer good"
    write(path, "better")
    assert token.header() == "Bearer better"


@pytest.mark.parametrize("content", [b"", b"\n \n", b"a b", b"tok\r\nX-Injected: 1", b"t\x00k",
                                     "tökén".encode(), b"x" * (64 * 1024 + 1)])
def test_a_token_file_without_a_usable_token_is_refused(tmp_path, content):
    """Refused at start, with a message that never holds the file's content."""
    (tmp_path / "token").write_bytes(content)
    with pytest.raises(ConfigError, match="empty, too long or not printable ASCII") as info:
        read_token(tmp_path / "token")
    shown = content.decode("utf-8", "ignore").strip()
    assert not shown or shown not in str(info.value)


def test_an_unreadable_token_file_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        read_token(tmp_path / "missing")


def mounted(tmp_path, *, token=True, ca: bytes | None = None):
    if token:
        (tmp_path / "token").write_text("abc")
    if ca is not None:
        (tmp_path / "ca.crt").write_bytes(ca)
    return tmp_path


@pytest.mark.parametrize("token,ca", [(False, b"x"), (True, None)])
def test_a_missing_file_means_not_in_a_pod(tmp_path, token, ca):
    """No token or no CA: NotInCluster, which sends connect() on to the kubeconfig."""
    directory = mounted(tmp_path, token=token, ca=ca)
    with pytest.raises(NotInCluster, match="does not exist"):
        incluster.connect(host="10.0.0.1", port="443", directory=directory, pool_size=1)


def test_a_ca_that_does_not_load_is_an_error(tmp_path):
    """A mounted but broken CA is a broken pod: an error, not a fallback."""
    directory = mounted(tmp_path, ca=b"-----BEGIN CERTIFICATE-----\nnot base64\n")
    with pytest.raises(ConfigError, match="cluster CA") as info:
        connect(service_host="10.0.0.1", service_port="443", service_account_dir=str(directory),
                kubeconfig=str(tmp_path / "none"), pool_size=1)
    assert not isinstance(info.value, NotInCluster)


CA = "/etc/ssl/certs/ca-certificates.crt"  # any loadable bundle will do without a server


@pytest.mark.parametrize("host,base", [("10.96.0.1", "https://10.96.0.1:443"),
                                       ("fd00::1", "https://[fd00::1]:443")])
def test_base_url_from_the_service_variables(tmp_path, host, base):
    """The URL is built as Go's net.JoinHostPort does, brackets for IPv6."""
    directory = mounted(tmp_path, ca=open(CA, "rb").read())
    connection = incluster.connect(host=host, port="443", directory=directory, pool_size=1)
    assert (connection.base, connection.source) == (base, "in-cluster")
    assert connection.credentials.header() == "Bearer abc"


def test_neither_source_names_both_reasons(tmp_path):
    """Service variables set, nothing mounted, no kubeconfig: one error giving both causes."""
    with pytest.raises(ConfigError) as info:
        connect(service_host="10.0.0.1", service_port="443", service_account_dir=str(tmp_path),
                kubeconfig=str(tmp_path / "missing-kubeconfig"), pool_size=1)
    message = str(info.value)
    assert "no in-cluster config" in message and "token does not exist" in message
    assert "no usable kubeconfig" in message


def test_without_the_kubernetes_package_a_pod_without_its_account_is_a_config_error(tmp_path, monkeypatch):
    """The image ships no kubernetes package (docs/image.md): a pod that mounts no service
    account gets a ConfigError saying so (a 500 naming the cause), not an ImportError."""
    import function.kube

    monkeypatch.setitem(sys.modules, "function.kube.kubeconfig", None)  # import raises ImportError
    monkeypatch.delattr(function.kube, "kubeconfig", raising=False)
    with pytest.raises(ConfigError, match="no kubeconfig support"):
        connect(service_host="10.0.0.1", service_port="443", service_account_dir=str(tmp_path),
                kubeconfig=str(tmp_path / "kubeconfig"), pool_size=1)
