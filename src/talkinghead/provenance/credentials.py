"""C2PA content credentials: signing our outputs and reading credentials back.

Every output gets a C2PA manifest (c2pa-python) that says it was *created* by talkinghead with
digital source type ``trainedAlgorithmicMedia``, lists the source photo and the driver as
ingredients (``inputTo``) and names the tool and its version.

Signing identity: unless the user passes ``--sign-cert``/``--sign-key``, a P-256 chain
root -> intermediate -> end-entity is created on first use in the user's config directory
(``$XDG_CONFIG_HOME/talkinghead/c2pa`` or ``~/.config/talkinghead/c2pa``; the private keys are
mode 0600). C2PA rejects a lone self-signed certificate, hence the chain. Such a local identity
proves that the file is unchanged since it was signed with that key, not *who* signed it: the
verify command reports a valid manifest as "valid" and, when the chain ends in the local root
(or a root the user lists as trusted), as "trusted".

Formats: mp4/m4v/mov, jpg, png, gif (and the other formats c2pa-python embeds into); others
(e.g. mkv, bmp) raise :class:`~talkinghead.errors.OutputError`.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from talkinghead.errors import InputError, OutputError

__all__ = [
    "C2paStatus",
    "SigningIdentity",
    "config_dir",
    "ensure_identity",
    "mime_for",
    "read_credentials",
    "sign_file",
]

DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
TOOL_NAME = "talkinghead"

_MIME = {
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".mov": "video/quicktime",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".avi": "video/x-msvideo",
    ".wav": "audio/wav",
    ".mp3": "audio/mpeg",
    ".m4a": "audio/mp4",
    ".flac": "audio/flac",
    ".heic": "image/heic",
    ".avif": "image/avif",
}
# the video containers the pipelines write: those of _MIME the encoder can write (every output is signed,
# so no .mkv: it cannot carry the manifest)
VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov"})
# generic MIME types for ingredients c2pa cannot open (they are then described, not embedded)
_OTHER_MIME = {
    ".mkv": "video/x-matroska",
    ".webm": "video/webm",
    ".mpg": "video/mpeg",
    ".mpeg": "video/mpeg",
    ".bmp": "image/bmp",
    ".ogg": "audio/ogg",
    ".opus": "audio/ogg",
    ".txt": "text/plain",
}


_MAGIC = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"), (b"GIF8", "image/gif"))


def mime_for(path: str | os.PathLike) -> str | None:
    """MIME type c2pa can embed a manifest into: from the extension, or, for a file without a known
    extension, from its first bytes (ISO-BMFF ``ftyp``, JPEG, PNG, GIF); None if unsupported."""
    p = Path(os.fspath(path))
    suffix = p.suffix.lower()
    if suffix in _MIME or suffix in _OTHER_MIME:
        return _MIME.get(suffix)
    try:
        with open(p, "rb") as f:
            head = f.read(16)
    except OSError:
        return None
    if head[4:8] == b"ftyp":
        return "video/quicktime" if head[8:10] == b"qt" else "video/mp4"
    for magic, mime in _MAGIC:
        if head.startswith(magic):
            return mime
    return None


def check_trust_files(paths) -> list[Path]:
    """``--trust`` PEM files: each must be a readable file holding a certificate (else InputError)."""
    out = []
    for t in paths or []:
        p = Path(os.fspath(t))
        try:
            text = p.read_text(errors="replace")
        except IsADirectoryError:
            raise InputError(p, "--trust: is a directory, not a PEM certificate") from None
        except OSError as e:
            raise InputError(p, f"--trust: cannot read ({e.strerror or e})") from None
        if "-----BEGIN CERTIFICATE-----" not in text:
            raise InputError(p, "--trust: not a PEM certificate (no BEGIN CERTIFICATE block)")
        out.append(p)
    return out


def config_dir() -> Path:
    """``$XDG_CONFIG_HOME/talkinghead`` (default ``~/.config/talkinghead``)."""
    base = os.environ.get("XDG_CONFIG_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".config"
    return root / "talkinghead"


# -- signing identity --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SigningIdentity:
    """PEM files: ``chain`` (end-entity first, then intermediates), ``key`` (end-entity private
    key), ``root`` (trust anchor, None for a user-supplied identity) and the algorithm."""

    chain: Path
    key: Path
    root: Path | None = None
    alg: str = "es256"


def _name(cn: str):
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, cn),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "talkinghead (local signing identity)"),
    ])


def _make_chain() -> tuple[bytes, bytes, bytes, bytes]:
    """(end-entity cert + intermediate cert PEM, end-entity key PEM, root cert PEM, root key PEM)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID

    now = _dt.datetime.now(_dt.timezone.utc) - _dt.timedelta(minutes=5)
    user = os.environ.get("USER") or "user"
    tag = secrets.token_hex(4)
    keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(3)]
    names = [_name(f"talkinghead local root {tag}"), _name(f"talkinghead local intermediate {tag}"),
             _name(f"talkinghead signer ({user}) {tag}")]
    days = [3650, 3650, 1825]
    certs = []
    for i in range(3):
        issuer_i = max(0, i - 1)
        b = (
            x509.CertificateBuilder()
            .subject_name(names[i])
            .issuer_name(names[issuer_i])
            .public_key(keys[i].public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + _dt.timedelta(days=days[i]))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(keys[i].public_key()), critical=False)
        )
        if i > 0:
            b = b.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(keys[issuer_i].public_key()), critical=False
            )
        if i < 2:  # CA certificates
            b = b.add_extension(x509.BasicConstraints(ca=True, path_length=None if i == 0 else 0), critical=True)
            b = b.add_extension(
                x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                              data_encipherment=False, key_agreement=False, key_cert_sign=True,
                              crl_sign=True, encipher_only=False, decipher_only=False),
                critical=True,
            )
        else:  # end-entity (signer)
            b = b.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            b = b.add_extension(
                x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                              data_encipherment=False, key_agreement=False, key_cert_sign=False,
                              crl_sign=False, encipher_only=False, decipher_only=False),
                critical=True,
            )
            b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        certs.append(b.sign(keys[issuer_i], hashes.SHA256()))
    pem = serialization.Encoding.PEM
    chain = certs[2].public_bytes(pem) + certs[1].public_bytes(pem)
    key_pem = keys[2].private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    root_key = keys[0].private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return chain, key_pem, certs[0].public_bytes(pem), root_key


def ensure_identity(directory: Path | None = None) -> SigningIdentity:
    """The local signing identity, created on first use in ``directory`` (default:
    ``config_dir()/c2pa``). Creation is atomic: a half-written identity is never used, and
    concurrent first uses end up sharing one identity."""
    d = Path(directory) if directory is not None else config_dir() / "c2pa"
    ident = SigningIdentity(d / "chain.pem", d / "signer.key", d / "root.pem")
    if ident.chain.is_file() and ident.key.is_file():
        return ident
    try:
        d.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(d.parent, f"cannot create the config directory ({e.strerror or e})") from None
    tmp = d.parent / f".{d.name}.{secrets.token_hex(4)}.tmp"
    try:
        tmp.mkdir(mode=0o700)
        chain, key, root, root_key = _make_chain()
        for name, data, mode in (("chain.pem", chain, 0o644), ("signer.key", key, 0o600),
                                 ("root.pem", root, 0o644), ("root.key", root_key, 0o600)):
            fd = os.open(tmp / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        (tmp / "README.txt").write_text(
            "Local C2PA signing identity of talkinghead (created on first use).\n"
            "chain.pem: signer + intermediate certificates; signer.key: the signer's private key;\n"
            "root.pem/root.key: the local root. Delete this folder to make a new identity.\n"
        )
        try:
            os.rename(tmp, d)  # atomic; fails if another process won the race
        except OSError:
            if not (ident.chain.is_file() and ident.key.is_file()):
                raise
    except OSError as e:
        raise OutputError(d, f"cannot create the signing identity ({e.strerror or e})") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return ident


def _alg_for_key(key_pem: bytes, path: Path | None = None) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    try:
        k = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        raise InputError(path, "signing key: not an unencrypted PEM private key") from None
    if isinstance(k, ec.EllipticCurvePrivateKey):
        alg = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}.get(k.curve.name)
        if alg:
            return alg
    elif isinstance(k, ed25519.Ed25519PrivateKey):
        return "ed25519"
    elif isinstance(k, rsa.RSAPrivateKey):
        return "ps256"
    raise InputError(path, "signing key: unsupported key type (use EC P-256/P-384, Ed25519 or RSA)")


def _pkcs8(key_pem: bytes) -> bytes:
    """The PEM key as PKCS#8, the only form c2pa takes: ``openssl ecparam -genkey`` writes SEC1
    ("BEGIN EC PRIVATE KEY"), older RSA tools PKCS#1 (checked by :func:`_alg_for_key` before)."""
    from cryptography.hazmat.primitives import serialization

    if b"-----BEGIN PRIVATE KEY-----" in key_pem:
        return key_pem
    k = serialization.load_pem_private_key(key_pem, password=None)
    return k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                           serialization.NoEncryption())


def _user_identity(cert: Path | None, key: Path | None) -> SigningIdentity:
    if cert is None or key is None:
        raise InputError(None, "--sign-cert and --sign-key must be given together")
    for p in (cert, key):
        if not Path(p).is_file():
            raise InputError(p, "file not found")
    alg = _alg_for_key(Path(key).read_bytes(), Path(key))
    _check_cert(Path(cert))
    return SigningIdentity(Path(cert), Path(key), None, alg)


def _check_cert(path: Path) -> None:
    from cryptography import x509

    try:
        certs = x509.load_pem_x509_certificates(path.read_bytes())
    except (ValueError, TypeError):
        raise InputError(path, "signing certificate: not a PEM certificate chain") from None
    if not certs:  # pragma: no cover - the loader raises on an empty chain
        raise InputError(path, "signing certificate: no certificate in the file")


def check_user_identity(cert: str | os.PathLike, key: str | os.PathLike) -> None:
    """Check ``--sign-cert`` / ``--sign-key`` before any rendering: key type, PEM syntax, and a trial
    signature of a tiny JPEG (a key that does not match the certificate, or a chain c2pa refuses,
    would otherwise fail only when the finished output is signed)."""
    import tempfile

    import cv2
    import numpy as np

    _user_identity(Path(os.fspath(cert)), Path(os.fspath(key)))
    with tempfile.TemporaryDirectory() as d:
        probe = Path(d) / "probe.jpg"
        probe.write_bytes(cv2.imencode(".jpg", np.full((16, 16, 3), 128, np.uint8))[1].tobytes())
        try:
            sign_file(probe, [], cert=cert, key=key)
        except OutputError as e:
            reason = str(e).split("C2PA signing failed: ", 1)[-1]
            raise InputError(Path(os.fspath(cert)), f"cannot sign with this certificate and key: {reason}") from None


# -- signing -------------------------------------------------------------------------------------------


def _version() -> str:
    from talkinghead import __version__

    return __version__


def _unicode_name(name: str) -> str:
    """``name`` as valid Unicode for the JSON manifest: bytes of a file name that are not UTF-8
    (kept by Python as lone surrogates) become U+FFFD."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        return os.fsencode(name).decode("utf-8", "replace")


def _manifest(title: str, fmt: str, extra: dict | None) -> dict:
    version = _version()
    action = {
        "action": "c2pa.created",
        "digitalSourceType": DIGITAL_SOURCE_TYPE,
        "softwareAgent": {"name": TOOL_NAME, "version": version},
        "description": "Portrait animated from a driving video or audio by talkinghead",
    }
    m = {
        "claim_generator_info": [{"name": TOOL_NAME, "version": version}],
        "title": _unicode_name(title),
        "format": fmt,
        "assertions": [
            {"label": "c2pa.actions", "data": {"actions": [action]}},
        ],
    }
    if extra:
        m["assertions"].append({"label": "org.talkinghead.generation", "data": extra})
    return m


def _add_ingredient(builder, path: Path) -> None:
    """Add ``path`` as an ``inputTo`` ingredient; formats c2pa cannot parse are added as opaque
    data of their MIME type (c2pa still records their hash)."""
    import c2pa

    p = Path(path)
    fmt = mime_for(p) or _OTHER_MIME.get(p.suffix.lower(), "application/octet-stream")
    info = {"title": _unicode_name(p.name), "relationship": "inputTo", "format": fmt}
    try:
        with open(p, "rb") as f:
            builder.add_ingredient(info, fmt, f)
    except c2pa.C2paError:
        with open(p, "rb") as f:  # e.g. a file whose content does not match its extension
            builder.add_ingredient(dict(info, format="application/octet-stream"), "application/octet-stream", f)


def sign_file(
    path: str | os.PathLike,
    ingredients: list[str | os.PathLike] | tuple = (),
    title: str | None = None,
    fmt: str | None = None,
    cert: str | os.PathLike | None = None,
    key: str | os.PathLike | None = None,
    extra: dict | None = None,
) -> None:
    """Embed a signed C2PA manifest into ``path`` in place (written to a temp file beside it and
    moved over it, so a failure leaves the file as it was).

    Args:
        path: the output to sign (mp4/m4v/mov, jpg, png, gif...).
        ingredients: source photo, driver... (paths that are not files are skipped).
        title: manifest title (default: the file name).
        fmt: MIME type (default: from the extension); useful for temp files with odd names.
        cert, key: a user signing identity (PEM chain and private key); default: the local one.
        extra: a small JSON-able dict recorded as the ``org.talkinghead.generation`` assertion.

    Raises:
        OutputError: unsupported format, unwritable file, or signing failed.
        InputError: unreadable user certificate/key.
    """
    import c2pa

    p = Path(os.fspath(path))
    mime = fmt or mime_for(p)
    if mime is None:
        raise OutputError(p, f"C2PA credentials cannot be embedded in '{p.suffix}' files "
                             "(use .mp4, .m4v or .mov for videos; .jpg, .png or .gif for images)")
    ident = _user_identity(Path(cert) if cert else None, Path(key) if key else None) if (cert or key) else ensure_identity()
    chain, key_pem = ident.chain.read_bytes(), _pkcs8(ident.key.read_bytes())
    manifest = _manifest(title or p.name, mime, extra)
    tmp = p.parent / f".{p.name}.{secrets.token_hex(4)}.c2pa{p.suffix}"
    try:
        # no thumbnails: they would add up to hundreds of kB per output
        ctx = c2pa.Context.from_dict({"builder": {"thumbnail": {"enabled": False}}})
        with c2pa.Builder(manifest, context=ctx) as builder:
            for ing in ingredients:
                ip = Path(os.fspath(ing))
                if ip.is_file():
                    _add_ingredient(builder, ip)
            info = c2pa.C2paSignerInfo(ident.alg, chain, key_pem, None)
            with c2pa.Signer.from_info(info) as signer, open(p, "rb") as src, open(tmp, "w+b") as dst:
                builder.sign(signer, mime, src, dst)
        os.replace(tmp, p)
    except c2pa.C2paError as e:
        raise OutputError(p, f"C2PA signing failed: {e}") from None
    except OSError as e:
        raise OutputError(p, f"C2PA signing failed: {e.strerror or e}") from None
    finally:
        if tmp.exists():
            try:
                tmp.unlink()
            except OSError:
                pass


# -- reading -------------------------------------------------------------------------------------------


@dataclass
class C2paStatus:
    """``state``: "valid" (signature and hashes check out), "trusted" (valid and the chain ends in
    a trusted root), "invalid" (a manifest is there but fails validation: edited file, bad
    signature...), "absent" (no manifest) or "unsupported" (a format c2pa cannot read).
    ``errors``: validation failure codes; ``summary``: claim generator, actions, ingredients."""

    state: str
    errors: list[str] = field(default_factory=list)
    summary: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.state in ("valid", "trusted")

    def as_dict(self) -> dict:
        return {"state": self.state, "errors": self.errors, **({"manifest": self.summary} if self.summary else {})}


def _trust_context(anchors: list[Path]):
    import c2pa

    pems = "".join(Path(a).read_text() for a in anchors if Path(a).is_file())
    if not pems:
        return None
    settings = {"verify": {"verify_trust": True}, "trust": {"user_anchors": pems}}
    try:
        return c2pa.Context.from_dict(settings)
    except Exception:  # noqa: BLE001 - older/newer settings schema: validate without trust
        return None


def _summary(active: dict | None) -> dict:
    if not active:
        return {}
    out: dict = {}
    gen = active.get("claim_generator_info") or []
    if gen:
        out["generator"] = " ".join(str(gen[0].get(k, "")) for k in ("name", "version")).strip()
    acts = []
    for a in active.get("assertions") or []:
        if str(a.get("label", "")).startswith("c2pa.actions"):
            for act in (a.get("data") or {}).get("actions", []):
                acts.append({k: act.get(k) for k in ("action", "digitalSourceType") if act.get(k)})
        elif a.get("label") == "org.talkinghead.generation" and isinstance(a.get("data"), dict):
            out["generation"] = a["data"]
    if acts:
        out["actions"] = acts
    ings = [i.get("title") for i in active.get("ingredients") or []]
    if ings:
        out["ingredients"] = ings
    sig = active.get("signature_info") or {}
    if sig:
        out["signer"] = sig.get("common_name") or sig.get("issuer")
    return out


def read_credentials(path: str | os.PathLike, trust: list[str | os.PathLike] | None = None) -> C2paStatus:
    """Read and validate the C2PA manifest of ``path``.

    ``trust``: PEM files of trusted roots (default: the local identity's root, when it exists).
    """
    import c2pa

    p = Path(os.fspath(path))
    mime = mime_for(p)
    if mime is None:
        return C2paStatus("unsupported", [f"c2pa cannot read {p.suffix or 'extension-less'} files of this type"])
    anchors = [Path(t) for t in trust] if trust is not None else [config_dir() / "c2pa" / "root.pem"]
    ctx = _trust_context(anchors)
    try:
        with open(p, "rb") as f:
            kwargs = {"context": ctx} if ctx is not None else {}
            reader = c2pa.Reader.try_create(mime, f, None, **kwargs)
            if reader is None:
                return C2paStatus("absent")
            with reader:
                store = json.loads(reader.json())
    except c2pa.C2paError as e:
        msg = str(e)
        if "ManifestNotFound" in type(e).__name__ or "no JUMBF" in msg:
            return C2paStatus("absent")
        return C2paStatus("invalid", [msg.strip()[:300]])
    active = store.get("manifests", {}).get(store.get("active_manifest", ""), None)
    state = str(store.get("validation_state") or "").lower()
    results = store.get("validation_results") or {}
    am = results.get("activeManifest") or {}
    failures = [f.get("code", "?") for f in am.get("failure", [])]
    if not failures:
        failures = [s.get("code", "?") for s in store.get("validation_status", []) or []
                    if not str(s.get("code", "")).startswith(("signingCredential.untrusted",))]
    untrusted = any(str(f.get("code", "")).startswith("signingCredential.untrusted") for f in am.get("failure", []))
    failures = [f for f in failures if not f.startswith("signingCredential.untrusted")]
    summary = _summary(active)
    if failures or state == "invalid" and not untrusted:
        return C2paStatus("invalid", failures or ["validation failed"], summary)
    return C2paStatus("trusted" if state == "trusted" else "valid", [], summary)
