"""OpenSSF Model Signing (the `model_signing` library, `modelport[sign]`): sign what modelport writes, and check a
model's signature before any byte of it is deserialized.

What a signature covers (its manifest: every file's sha256, in a DSSE envelope signed with an elliptic-curve key):
- a folder model: every file in the folder (`.git` paths and the signature itself aside);
- a file with weights beside it (`model.onnx` + `model.onnx.data`, `model.xml` + `model.bin`): both files, as the
  folder they are in with everything else left out;
- any other file: itself.

Where the signature is: `FILE.sig` beside a file, else for a folder `DIR.sig` beside it or
`DIR/model.sig` inside it (model_signing's default name); a file inside a signed folder is covered by the
folder's. modelport writes `FILE.sig` / `DIR.sig`.

model_signing 1.0.1 builds a Sigstore signer in `signing.Config()` (which needs the network): key signing here
uses its elliptic-key signer and payload directly, which is what `Config().use_elliptic_key_signer()` runs.
Checking uses `verifying.Config().use_elliptic_key_verifier()`, the upstream API, unchanged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from modelport.core.errors import MissingDependency, UnsafeError, UsageError, one_line

SUFFIX = ".sig"
IN_FOLDER = "model.sig"


@dataclass(frozen=True)
class Scope:
    """What is hashed: `root` (a file or a folder) and the folder entries left out; `members`: for a file with
    files beside it, just those (hashed one by one: the rest of their folder is never walked)."""

    root: Path
    ignored: tuple[str, ...] = ()
    members: tuple[str, ...] = ()


def scope(path: Path, signature: Path | None = None) -> Scope:
    from modelport.core.io import side_data

    path = Path(path).absolute()
    if path.is_dir():
        inside = tuple(p.name for p in (path / IN_FOLDER, signature) if p is not None and p.parent == path)
        return Scope(path, inside)
    from modelport.core.attestation import path_for

    members = [p for p in (side_data(path), path_for(path)) if p.exists()]
    if not members:
        return Scope(path)
    return Scope(path.parent, members=tuple(sorted([path.name, *(p.name for p in members)])))


def covered(path: Path) -> list[str]:
    """The files a signature of `path` covers, relative to the scope's root (a file: its name)."""
    where = scope(Path(path))
    return sorted(str(p.relative_to(where.root)) if p != where.root else p.name for p in _files(where))


def _files(where: Scope) -> list[Path]:
    if where.root.is_file():
        return [where.root]
    if where.members:
        return [where.root / name for name in where.members]
    return sorted(p for p in where.root.rglob("*")
                  if p.is_file() and p.relative_to(where.root).parts[0] not in where.ignored)


def default_signature(path: Path) -> Path:
    return path.parent / f"{path.name}{SUFFIX}"


def _library():
    try:
        from model_signing import hashing, verifying
        from model_signing._signing import sign_certificate, sign_ec_key, signing
    except ImportError as exc:
        raise MissingDependency("model-signing", "sign", "sign or check model signatures") from exc
    return hashing, verifying, (sign_ec_key, sign_certificate), signing


def _hash(where: Scope):
    """`_manifest(where)`, with model_signing's refusals (a symbolic link in a folder model) as one line, exit 2."""
    try:
        return _manifest(where)
    except ValueError as exc:
        raise UsageError(f"{where.root}: cannot be hashed for a signature ({one_line(exc, 120)})",
                         hint="model_signing does not follow symbolic links: copy the files in") from exc


def _manifest(where: Scope):
    """The manifest of what `where` covers: model_signing's own for a file or a folder; for a file with files
    beside it, each member hashed by model_signing and put in the manifest hashing their folder (every other file
    left out) would give, without walking that folder (it may be large, or hold symlinks model_signing refuses)."""
    hashing = _library()[0]
    if not where.members:
        # model_signing compares ignored paths with the absolute paths it walks: they must be absolute too
        config = hashing.Config().set_ignored_paths(paths=[where.root / name for name in where.ignored])
        return config.hash(where.root)
    from pathlib import PurePosixPath

    from model_signing import manifest as mf

    items, serialization = [], None
    for name in where.members:
        one = hashing.Config().hash(where.root / name)
        serialization = serialization or mf.SerializationType.from_args(one.serialization_type)
        items.append(mf.FileManifestItem(path=PurePosixPath(name), digest=next(one.resource_descriptors()).digest))
    return mf.Manifest(where.root.name, items, serialization)


def sign(path: str | Path, key: str | Path, signature: str | Path | None = None, password: str | None = None,
         cert: str | Path | None = None, chain: tuple[str | Path, ...] = ()) -> Path:
    """Sign the model at `path` with the elliptic-curve private key `key` (PEM), and with `cert` (its signing
    certificate, PEM) and `chain` (the certificates up to a root the reader trusts) for certificate signing.
    Returns the signature's path."""
    _, _, (sign_ec_key, sign_certificate), signing = _library()
    path = Path(path)
    target = Path(signature) if signature else default_signature(path)
    where = scope(path, target)
    try:
        if cert:
            if password:
                raise UsageError("--password is for key signing; certificate signing takes an unencrypted key")
            signer = sign_certificate.Signer(Path(key), Path(cert), [Path(c) for c in chain])
        else:
            signer = sign_ec_key.Signer(Path(key), password)
    except (OSError, ValueError, TypeError) as exc:
        what = f"{key} with {cert}" if cert else f"{key}"
        raise UsageError(f"{what}: cannot sign ({type(exc).__name__}: {exc})",
                         hint="an elliptic-curve key: openssl ecparam -name prime256v1 -genkey -noout -out key.pem"
                              + ("; the certificate must be the key's" if cert else "")) from exc
    manifest = _hash(where)
    manifest._name = path.absolute().name  # "only informative" (model_signing): the model's name, not its folder's
    partial = target.parent / f".{target.name}.{os.getpid()}.partial"
    signer.sign(signing.Payload(manifest)).write(partial)
    os.replace(partial, target)
    return target


def find_signature(path: Path) -> tuple[Path, Path] | None:
    """(the signed model, its signature) for `path`: its own, or a signed folder's it is inside."""
    candidates = [path] + list(path.parents if path.is_file() else [])
    for model in candidates:
        for sig in (default_signature(model), model / IN_FOLDER if model.is_dir() else None):
            if sig is not None and sig.is_file():
                return model, sig
    return None


def signer(sig: Path) -> dict:
    """Who a signature says signed it (read from its bundle, not checked): {"kind": "key", "fingerprint"} for a
    key signature (sha256 of the public key's DER SubjectPublicKeyInfo, which `openssl pkey -pubin -in KEY.pub
    -outform DER | sha256sum` prints), {"kind": "certificate", "fingerprint", "subject"} (the signing
    certificate's sha256 and subject) for a certificate one; {} for a file that is not a bundle."""
    import base64

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    try:
        material = _material(sig)
        if "publicKey" in material:
            key = serialization.load_pem_public_key(base64.b64decode(material["publicKey"]["rawBytes"]))
            return {"kind": "key", "fingerprint": "sha256:" + public_key_digest(key)}
        chain = material.get("x509CertificateChain", {}).get("certificates") or [material["certificate"]]
        cert = x509.load_der_x509_certificate(base64.b64decode(chain[0]["rawBytes"]))
        return {"kind": "certificate", "fingerprint": "sha256:" + cert.fingerprint(hashes.SHA256()).hex(),
                "subject": cert.subject.rfc4514_string()}
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return {}


def _material(sig: Path) -> dict:
    """The bundle's verification material: the public key, or the signing certificate and its chain."""
    import json

    return json.loads(Path(sig).read_text()).get("verificationMaterial", {})


def public_key_digest(key) -> str:
    """sha256 (hex) of a public key's DER SubjectPublicKeyInfo (`key`: a cryptography key or a PEM file)."""
    import hashlib

    from cryptography.hazmat.primitives import serialization

    if isinstance(key, (str, Path)):
        key = serialization.load_pem_public_key(Path(key).read_bytes())
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def check_own_key(path: Path, sig: Path) -> None:
    """Check a key signature against the public key its bundle carries: proves the files are what that key
    signed (not that the key is one to trust). Exit 4 when they are not."""
    import base64
    import tempfile

    try:
        pem = base64.b64decode(_material(sig)["publicKey"]["rawBytes"])
    except (OSError, ValueError, KeyError, TypeError):  # a certificate signature, or not a bundle
        return
    with tempfile.TemporaryDirectory(prefix="modelport-key-") as tmp:
        (Path(tmp) / "signer.pub").write_bytes(pem)
        check(path, Path(tmp) / "signer.pub", signature=sig)


_checked: dict[tuple, None] = {}


def check(path: str | Path, public_key: str | Path | None, signature: str | Path | None = None,
          chain: str | Path | None = None) -> Path:
    """Refuse (exit 4) a model whose signature is missing, invalid, or does not match every file it covers.
    `public_key` (PEM) for key signatures, or `chain` (PEM certificates to trust) for certificate signatures.
    Returns the signature used. Hashes are streamed; a file already checked unchanged is not hashed again."""
    path = Path(path)
    if signature:
        found = (path, Path(signature))
    else:
        found = find_signature(path)
    if found is None:
        raise UnsafeError(f"{path}: no signature (looked for {default_signature(path).name}"
                          f"{' or ' + IN_FOLDER + ' inside' if path.is_dir() else ''})",
                          hint="sign it: modelport sign PATH --key KEY.pem (or model_signing sign)")
    model, sig = found
    where = scope(model, sig)
    key = (str(model.resolve()), str(sig.resolve()), str(public_key), str(chain), _stamp(where))
    if key in _checked:
        return sig
    _, verifying, _, _ = _library()
    try:
        if chain:
            config = verifying.Config().use_certificate_verifier(certificate_chain=[str(chain)])
        else:
            config = verifying.Config().use_elliptic_key_verifier(public_key=str(public_key))
    except (OSError, ValueError, TypeError) as exc:
        what = "certificate chain" if chain else "elliptic-curve public key"
        raise UsageError(f"{chain or public_key}: not a usable {what} ({type(exc).__name__})") from exc
    try:
        expected = config._verifier.verify(_read(sig))
    except Exception as exc:
        trust = "these certificates" if chain else "this key"
        raise UnsafeError(f"{model}: signature {sig.name} is not valid for {trust} ({one_line(exc, 120)})",
                          hint="was it signed with the private key of this public key?" if not chain else
                               "is its signing certificate issued under this chain, for digital signatures?"
                          ) from exc
    actual = _hash(where)
    if actual != expected:
        raise UnsafeError(f"{model}: {differs(expected, actual, model.name)} (signature {sig.name})",
                          hint="the model changed after it was signed: do not use it")
    _checked[key] = None
    return sig


def _read(sig: Path):
    from model_signing._signing import sign_sigstore_pb

    return sign_sigstore_pb.Signature.read(sig)


def differs(expected, actual, name: str) -> str:
    """Which file the signature and the model disagree on, and how (`name`: a single file's, which the
    manifest calls ".")."""
    want, have = ({name if d.identifier == "." else d.identifier: d.digest.digest_hex
                   for d in m.resource_descriptors()} for m in (expected, actual))
    for name in sorted(set(want) | set(have)):
        if name not in have:
            return f"{name} is signed but missing"
        if name not in want:
            return f"{name} is not covered by the signature"
        if want[name] != have[name]:
            return f"{name} does not match its signed digest"
    return "the files do not match the signature"


def _stamp(where: Scope) -> tuple:
    return tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in _files(where))
