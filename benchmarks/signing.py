"""Signing and checking a model's signature: modelport against the upstream `model_signing` tool on the same
files, wall time and peak RSS in fresh processes (`/usr/bin/time -v`); and what `--require-signature` adds to
`inspect` (issue 29).

    python benchmarks/signing.py MODEL.onnx [MODEL.onnx ...]

Each model is signed into a scratch signature beside it (`NAME.bench.sig`, removed afterwards). A model with a
data file (`NAME.onnx.data`) must be alone with it in its folder: the upstream CLI then checks the folder.
Upstream signing runs model_signing's elliptic-key signer in a script (its 1.0.1 `sign key` CLI needs the
network). Goal: <= 1.1x the upstream tool; hashes streamed, never a whole file in memory.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import _common  # noqa: F401  (import paths)
from large_model import measure

UPSTREAM_SIGN = """import sys, pathlib
from model_signing import hashing
from model_signing._signing import sign_ec_key, signing
manifest = hashing.Config().set_ignored_paths(paths=[pathlib.Path(p) for p in sys.argv[3:]]).hash(sys.argv[1])
sign_ec_key.Signer(pathlib.Path(sys.argv[2])).sign(signing.Payload(manifest)).write(pathlib.Path(sys.argv[3]))
"""


def keys(folder: Path) -> tuple[Path, Path]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    private = ec.generate_private_key(ec.SECP256R1())
    key, pub = folder / "key.pem", folder / "key.pub"
    key.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    pub.write_bytes(private.public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo))
    return key, pub


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="modelport-sign-"))
    key, pub = keys(work)
    script = work / "upstream_sign.py"
    script.write_text(UPSTREAM_SIGN)
    mp = [sys.executable, "-m", "modelport"]
    print(f"{'model':28} {'run':34} {'exit':>4} {'wall s':>7} {'peak MiB':>9}")
    for name in args.models:
        model = Path(name).absolute()
        pair = (model.parent / f"{model.name}.data").exists()
        target = model.parent if pair else model  # what the upstream tool is pointed at
        ours, theirs = model.parent / f"{model.name}.bench.sig", model.parent / f"{model.name}.upstream.sig"
        rows = [
            ("modelport sign", mp + ["sign", str(model), "--key", str(key), "--signature", str(ours)]),
            ("upstream sign (library)", [sys.executable, str(script), str(target), str(key), str(theirs),
                                         str(ours)]),
            ("modelport sign --check", mp + ["sign", str(model), "--check", str(pub), "--signature", str(ours)]),
            ("upstream verify key (CLI)", [sys.executable, "-m", "model_signing", "verify", "key", str(target),
                                           "--signature", str(theirs), "--public_key", str(pub),
                                           "--ignore-paths", str(ours)]),
            ("inspect", mp + ["inspect", str(model)]),
        ]
        try:
            for label, cmd in rows:
                code, wall, peak, err = measure(cmd)
                print(f"{model.name:28} {label:34} {code:>4} {wall:7.2f} {peak:9,.0f}", flush=True)
                if code:
                    print("    " + err)
            ours.replace(model.parent / f"{model.name}.sig")  # where --require-signature looks
            code, wall, peak, err = measure(mp + ["inspect", str(model), "--require-signature", str(pub)])
            print(f"{model.name:28} {'inspect --require-signature':34} {code:>4} {wall:7.2f} {peak:9,.0f}")
        finally:
            for sig in (ours, theirs, model.parent / f"{model.name}.sig"):
                sig.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
