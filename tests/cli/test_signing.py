"""OpenSSF model signatures: what modelport signs verifies with the upstream `model_signing` library and CLI (and
stops verifying when a byte changes); what `--require-signature` refuses is refused before the model is read."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(__import__("importlib.util").util.find_spec("model_signing") is None,
                                reason="needs pip install 'modelport[sign]'")


@pytest.fixture()
def keys(tmp_path):
    """An elliptic-curve key pair (P-256, PEM), and a second public key that did not sign anything."""
    return make_keys(tmp_path)


def make_keys(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    paths = {}
    for name in ("key", "other"):
        private = ec.generate_private_key(ec.SECP256R1())
        (tmp_path / f"{name}.pem").write_bytes(private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        (tmp_path / f"{name}.pub").write_bytes(private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        paths[name] = tmp_path / f"{name}.pem"
        paths[f"{name}_pub"] = tmp_path / f"{name}.pub"
    return paths


def upstream_verify(model, sig, public_key, ignored=()) -> bool:
    """model_signing's own verifier (Python API)."""
    from model_signing import hashing, verifying

    config = verifying.Config().use_elliptic_key_verifier(public_key=str(public_key))
    config.set_hashing_config(hashing.Config().set_ignored_paths(paths=[str(p) for p in ignored]))
    try:
        config.verify(str(model), str(sig))
    except Exception:  # ValueError for a manifest mismatch, cryptography's InvalidSignature for another key
        return False
    return True


def upstream_cli(model, sig, public_key, ignored=()) -> int:
    """`model_signing verify key` (its CLI, in its own process)."""
    extra = [a for p in ignored for a in ("--ignore-paths", str(p))]
    return subprocess.run([sys.executable, "-m", "model_signing", "verify", "key", str(model), "--signature",
                           str(sig), "--public_key", str(public_key), *extra], capture_output=True,
                          timeout=120).returncode


def upstream_sign(model, key, sig) -> None:
    """Sign with model_signing's elliptic-key signer (its `sign key` CLI builds a Sigstore signer first in 1.0.1,
    which needs the network: RECIPES)."""
    from pathlib import Path

    from model_signing import hashing
    from model_signing._signing import sign_ec_key, signing

    manifest = hashing.Config().hash(str(model))
    sign_ec_key.Signer(Path(key)).sign(signing.Payload(manifest)).write(Path(sig))


def _fingerprint(public_pem) -> str:
    """sha256 of the public key's DER SubjectPublicKeyInfo, as `openssl pkey -pubin -outform DER | sha256sum`."""
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_public_key(public_pem.read_bytes())
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(der).hexdigest()


def flip(path, offset=-1) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_convert_signs_its_output_for_the_upstream_verifier(models, tmp_path, cli, keys):
    """The model and its attestation are signed together: the upstream verifier (API and CLI, on their folder)
    accepts them, and rejects them once a byte of either changes."""
    folder = tmp_path / "out"
    folder.mkdir()
    out = folder / "scaler.onnx"
    code, stdout, err = cli("convert", models("sk_scaler"), "-o", out, "--sign-key", keys["key"], "--json", "-")
    assert code == 0, err
    assert json.loads(stdout)["signature"] == {"file": "scaler.onnx.sig",
                                               "covers": ["scaler.onnx", "scaler.onnx.intoto.jsonl"]}
    sig, statement = folder / "scaler.onnx.sig", folder / "scaler.onnx.intoto.jsonl"
    assert upstream_verify(folder, sig, keys["key_pub"], [sig]) and upstream_cli(folder, sig, keys["key_pub"]) == 0
    assert not upstream_verify(folder, sig, keys["other_pub"], [sig])
    flip(statement, 10)
    assert not upstream_verify(folder, sig, keys["key_pub"], [sig]) and upstream_cli(folder, sig, keys["key_pub"])
    code, _, err = cli("inspect", out, "--require-signature", keys["key_pub"])
    assert code == 4 and "scaler.onnx.intoto.jsonl does not match its signed digest" in err
    flip(statement, 10)
    code, stdout, err = cli("inspect", out, "--require-signature", keys["key_pub"], "--json", "-")
    assert code == 0, err
    shown = json.loads(stdout)["model"]["signature"]
    assert shown["status"] == "valid" and shown["signed_by"] == _fingerprint(keys["key_pub"])
    claim = [json.loads(line) for line in statement.read_text().splitlines()]
    assert shown["attested"]["verdict"] == claim[1]["predicate"]["result"] == "PASSED"
    assert shown["attested"]["source_sha256"] == hashlib.sha256(models("sk_scaler").read_bytes()).hexdigest()
    code, stdout, _ = cli("inspect", out, "--json", "-")
    assert json.loads(stdout)["model"]["signature"]["status"] == "present, not checked"
    flip(out)
    assert not upstream_verify(folder, sig, keys["key_pub"], [sig]) and upstream_cli(folder, sig, keys["key_pub"])
    code, _, err = cli("inspect", out, "--require-signature", keys["key_pub"])
    assert code == 4 and "scaler.onnx does not match its signed digest" in err
    # written again without --sign-key: the old signature and attestation go with the old file
    code, _, err = cli("convert", models("sk_scaler"), "-o", out, "--force")
    assert code == 0, err
    assert not sig.exists() and not statement.exists()


def _matmul_onnx(path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 64])], [w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def test_a_model_with_a_data_file_is_signed_with_it(tmp_path, cli, keys):
    """OUT.onnx and OUT.onnx.data are covered together: a byte changed in the data file fails the upstream
    verifier (the folder, other files left out) and modelport names the file."""
    src, out_dir = tmp_path / "m.onnx", tmp_path / "out"
    _matmul_onnx(src)
    out_dir.mkdir()
    out = out_dir / "m.onnx"
    code, stdout, err = cli("optimize", src, "-o", out, "--external-data", "--sign-key", keys["key"], "--json", "-")
    assert code == 0, err
    assert json.loads(stdout)["signature"]["covers"] == ["m.onnx", "m.onnx.data", "m.onnx.intoto.jsonl"]
    sig, data = out_dir / "m.onnx.sig", out_dir / "m.onnx.data"
    (out_dir / "notes.txt").write_text("not part of the model")
    ignored = [out_dir / "notes.txt", sig]  # the CLI leaves its --signature out by itself, the API does not
    assert upstream_verify(out_dir, sig, keys["key_pub"], ignored)
    assert upstream_cli(out_dir, sig, keys["key_pub"], ignored) == 0
    (out_dir / "link").symlink_to(tmp_path)  # the rest of the folder is not walked (model_signing refuses links)
    code, _, err = cli("sign", out, "--check", keys["key_pub"])
    assert code == 0, err
    flip(data, 100)
    assert not upstream_verify(out_dir, sig, keys["key_pub"], ignored)
    code, _, err = cli("sign", out, "--check", keys["key_pub"])
    assert code == 4 and "m.onnx.data does not match its signed digest" in err


def test_require_signature_refuses_before_the_model_is_read(models, tmp_path, cli, keys, monkeypatch):
    """A model signed with the upstream signer is accepted; changed by one byte, unsigned, or signed by another
    key it is refused with exit 4, nothing is written, and the loader never runs."""
    import shutil

    from modelport.frameworks.sklearn import model as sklearn_model

    src = tmp_path / "scaler.skops"
    shutil.copy(models("sk_scaler"), src)
    upstream_sign(src, keys["key"], tmp_path / "scaler.skops.sig")
    out = tmp_path / "out.onnx"
    code, _, err = cli("convert", src, "-o", out, "--require-signature", keys["key_pub"])
    assert code == 0, err
    loads = []
    real = sklearn_model.load
    monkeypatch.setattr(sklearn_model, "load", lambda *a, **k: loads.append(a) or real(*a, **k))
    flip(src)
    code, _, err = cli("convert", src, "-o", tmp_path / "bad.onnx", "--require-signature", keys["key_pub"])
    assert code == 4 and "scaler.skops does not match its signed digest" in err
    code, _, err = cli("convert", models("sk_scaler"), "-o", tmp_path / "bad.onnx", "--require-signature",
                       keys["key_pub"])
    assert code == 4 and "no signature" in err
    flip(src)  # back to the signed bytes
    code, _, err = cli("convert", src, "-o", tmp_path / "bad.onnx", "--require-signature", keys["other_pub"])
    assert code == 4 and "not valid for this key" in err
    monkeypatch.setenv("MODELPORT_REQUIRE_SIGNATURE", str(keys["other_pub"]))
    code, _, err = cli("inspect", src)
    assert code == 4 and "not valid for this key" in err
    assert loads == [] and not (tmp_path / "bad.onnx").exists()


def test_signature_names_a_bundle_kept_elsewhere(models, tmp_path, cli, keys):
    """--signature: a bundle kept away from the model (here, made by the upstream signer) is used for it; it only
    means something with a key to check it; a bundle of another model is refused."""
    import shutil

    src = tmp_path / "scaler.skops"
    shutil.copy(models("sk_scaler"), src)
    (tmp_path / "sigs").mkdir()
    upstream_sign(src, keys["key"], tmp_path / "sigs" / "scaler.bundle")
    named = ("--signature", tmp_path / "sigs" / "scaler.bundle")
    code, stdout, err = cli("inspect", src, "--require-signature", keys["key_pub"], *named, "--json", "-")
    assert code == 0, err
    assert json.loads(stdout)["model"]["signature"]["status"] == "valid"
    code, _, err = cli("convert", src, "-o", tmp_path / "out.onnx", "--require-signature", keys["key_pub"], *named)
    assert code == 0, err
    code, _, err = cli("inspect", src, *named)
    assert code == 2 and "--signature goes with --require-signature" in err
    other = tmp_path / "other.skops"
    shutil.copy(models("sk_scaler"), other)
    flip(other)
    code, _, err = cli("inspect", other, "--require-signature", keys["key_pub"], *named)
    assert code == 4 and "does not match its signed digest" in err


def test_fuse_signs_the_ensemble_and_attests_each_member(models, tmp_path, cli, keys):
    """fuse --sign-key: the fused file is signed (its members' intermediate conversions are not), and the
    attestation names every member with its sha256 as a source."""
    sk, voting = models("sk_pipeline"), models("sk_voting_soft")
    folder = tmp_path / "out"
    folder.mkdir()
    out = folder / "ens.onnx"
    code, _, err = cli("fuse", sk, voting, "-o", out, "--strategy", "mean", "--sign-key", keys["key"])
    assert code == 0, err
    sig = folder / "ens.onnx.sig"
    assert sorted(p.name for p in folder.iterdir()) == ["ens.onnx", "ens.onnx.intoto.jsonl", "ens.onnx.sig"]
    assert upstream_verify(folder, sig, keys["key_pub"], [sig])
    slsa = json.loads((folder / "ens.onnx.intoto.jsonl").read_text().splitlines()[0])["predicate"]
    deps = slsa["buildDefinition"]["resolvedDependencies"]
    assert [(d["name"], d["digest"]["sha256"]) for d in deps] == [
        (p.name, hashlib.sha256(p.read_bytes()).hexdigest()) for p in (sk, voting)]


def test_a_signed_folder_covers_every_file_in_it(tmp_path, cli, keys):
    folder = tmp_path / "bundle"
    (folder / "sub").mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "sub" / "weights.bin").write_bytes(b"\x00" * 4096)
    code, _, err = cli("sign", folder, "--key", keys["key"])
    assert code == 0, err
    sig = tmp_path / "bundle.sig"
    assert upstream_verify(folder, sig, keys["key_pub"]) and upstream_cli(folder, sig, keys["key_pub"]) == 0
    (folder / "extra.py").write_text("import os")
    code, _, err = cli("sign", folder, "--check", keys["key_pub"])
    assert code == 4 and "extra.py is not covered by the signature" in err
    assert not upstream_verify(folder, sig, keys["key_pub"])


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _ca(folder, name: str, issuer: str | None = None, leaf: bool = False):
    """An EC key and certificate made with openssl: a root (self-signed), an intermediate or a signing leaf."""
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f"{name}.key", cwd=folder)
    ext = ("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n"
           if leaf else "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n")
    (folder / f"{name}.ext").write_text(ext)
    if issuer is None:
        _openssl("req", "-x509", "-new", "-key", f"{name}.key", "-subj", f"/CN={name}", "-days", "2", "-out",
                 f"{name}.pem", "-addext", "basicConstraints=critical,CA:TRUE", "-addext",
                 "keyUsage=critical,keyCertSign,cRLSign", cwd=folder)
        return
    _openssl("req", "-new", "-key", f"{name}.key", "-subj", f"/CN={name}", "-out", f"{name}.csr", cwd=folder)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{issuer}.pem", "-CAkey", f"{issuer}.key",
             "-CAcreateserial", "-days", "2", "-out", f"{name}.pem", "-extfile", f"{name}.ext", cwd=folder)


def test_certificate_signing_with_a_throwaway_ca_verifies_both_ways(models, tmp_path, cli):
    """A leaf certificate under an intermediate under a root, all made by openssl here: modelport's signature
    verifies with the upstream certificate verifier trusting the root, and modelport accepts it under the root
    but not under another root, nor after one byte changes."""
    from model_signing import verifying

    pki = tmp_path / "pki"
    pki.mkdir()
    _ca(pki, "root")
    _ca(pki, "intermediate", issuer="root")
    _ca(pki, "signer", issuer="intermediate", leaf=True)
    _ca(pki, "elsewhere")
    folder = tmp_path / "out"
    folder.mkdir()
    out = folder / "scaler.onnx"
    code, _, err = cli("convert", models("sk_scaler"), "-o", out, "--sign-key", pki / "signer.key", "--sign-cert",
                       pki / "signer.pem", "--cert-chain", pki / "intermediate.pem")
    assert code == 0, err
    sig = folder / "scaler.onnx.sig"

    def upstream(root) -> bool:
        from model_signing import hashing

        config = verifying.Config().use_certificate_verifier(certificate_chain=[str(root)])
        config.set_hashing_config(hashing.Config().set_ignored_paths(paths=[str(sig)]))
        try:
            config.verify(str(folder), str(sig))
        except Exception:
            return False
        return True

    assert upstream(pki / "root.pem") and not upstream(pki / "elsewhere.pem")
    code, _, err = cli("inspect", out, "--require-cert", pki / "root.pem")
    assert code == 0, err
    code, _, err = cli("inspect", out, "--require-cert", pki / "elsewhere.pem")
    assert code == 4 and "not valid for these certificates" in err
    flip(out)
    assert not upstream(pki / "root.pem")
    code, _, err = cli("sign", out, "--check-cert", "--chain", pki / "root.pem")
    assert code == 4 and "scaler.onnx does not match its signed digest" in err


class _Shell:
    """Unpickling this runs a shell command (what a malicious pickle does)."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        import os

        return os.system, (self.command,)


def test_a_pickle_that_runs_commands_is_refused_even_with_trust(tmp_path, cli):
    """Plain pickle, joblib (plain and compressed) and a pickled torch module calling os.system: exit 4 with
    --trust, the sentinel never created; a plain scikit-learn pickle still loads with --trust."""
    import pickle

    import joblib
    from sklearn.linear_model import LogisticRegression

    sentinel = tmp_path / "pwned"
    payload = _Shell(f"touch {sentinel}")
    files = [tmp_path / "evil.pkl", tmp_path / "evil.joblib", tmp_path / "evil_z.joblib"]
    files[0].write_bytes(pickle.dumps(payload))
    joblib.dump(payload, files[1])
    joblib.dump(payload, files[2], compress=3)
    import torch

    files.append(tmp_path / "evil.pt")
    torch.save(payload, files[-1])  # a zip whose data.pkl calls os.system
    for path in files:
        code, _, err = cli("inspect", path, "--trust")
        assert code == 4 and "os.system" in err.replace("posix.system", "os.system"), (path, err)
    assert not sentinel.exists()
    x, y = np.random.default_rng(0).standard_normal((40, 3)), np.arange(40) % 2
    joblib.dump(LogisticRegression().fit(x, y), tmp_path / "plain.joblib")
    code, _, err = cli("convert", tmp_path / "plain.joblib", "-o", tmp_path / "plain.onnx", "--trust")
    assert code == 0, err


def test_the_guarded_unpickler_refuses_what_the_scan_cannot_see(tmp_path):
    """A denied global after bytes that stop the opcode scan is refused when the unpickler resolves it."""
    import pickle

    from modelport.core import pickles
    from modelport.core.errors import UnsafeError

    data = pickle.dumps(_Shell(f"touch {tmp_path / 'pwned'}"))
    assert any(n.endswith("system") for n in pickles.globals_in(data))
    assert pickles.globals_in(b"\xff" + data) == []  # the scan stops at once
    import io

    with pytest.raises(UnsafeError):
        pickles.guarded_module().load(io.BytesIO(data))
    assert not (tmp_path / "pwned").exists()


def test_the_attestation_records_what_verify_says_and_the_inputs_it_ran(models, tmp_path, cli, keys):
    """Subjects are the files' sha256; the verdict and per-output errors are what `modelport verify` gives when
    run again; the inputs' digest is the one computed here from the --data arrays, and changes with them."""
    import hashlib

    import onnxruntime as ort

    src = models("sk_scaler")
    digests = {}
    for name, seed in (("a", 0), ("b", 1)):
        folder = tmp_path / name
        folder.mkdir()
        out = folder / "scaler.onnx"
        x = np.random.default_rng(seed).standard_normal((12, 4)).astype(np.float32)
        np.savez(tmp_path / f"{name}.npz", x=x)
        code, _, err = cli("convert", src, "-o", out, "--data", tmp_path / f"{name}.npz", "--sign-key", keys["key"])
        assert code == 0, err
        lines = [json.loads(line) for line in (folder / "scaler.onnx.intoto.jsonl").read_text().splitlines()]
        provenance, result = lines
        assert provenance["predicateType"] == "https://slsa.dev/provenance/v1"
        assert result["predicateType"] == "https://in-toto.io/attestation/test-result/v0.1"
        assert provenance["subject"] == [{"name": "scaler.onnx",
                                          "digest": {"sha256": hashlib.sha256(out.read_bytes()).hexdigest()}}]
        dependency = provenance["predicate"]["buildDefinition"]["resolvedDependencies"][0]
        assert dependency["digest"]["sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
        name_in = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).get_inputs()[0].name
        mine = hashlib.sha256()
        mine.update(f"{name_in}|{x.dtype.str}|{list(x.shape)}\n".encode())
        mine.update(x.tobytes())
        digests[name] = result["predicate"]["configuration"][0]["digest"]["sha256"]
        assert digests[name] == mine.hexdigest()
        code, stdout, err = cli("verify", src, out, "--data", tmp_path / f"{name}.npz", "--json", "-")
        assert code == 0, err
        again = {o["name"]: o for o in json.loads(stdout)["verification"]["outputs"]}
        recorded = provenance["predicate"]["runDetails"]["byproducts"][0]["annotations"]
        assert result["predicate"]["result"] == "PASSED" and recorded["passed"]
        for o in recorded["outputs"]:
            assert o["passed"] == again[o["name"]]["passed"]
            assert o["max_abs_error"] == pytest.approx(again[o["name"]]["max_abs_error"], abs=1e-12)
    assert digests["a"] != digests["b"]


def test_batch_workers_sign_their_outputs(models, tmp_path, keys):
    """`batch --sign-key` and the manifest's `sign` field: each job's output is signed in its worker process by the
    key its job names (`sign: false` keeps one unsigned), the upstream verifier accepts each, and signing a batch
    that ran unsigned redoes the jobs it now signs."""
    import shutil

    from tests.conftest import run_cli

    shutil.copy(models("sk_scaler"), tmp_path / "scaler.skops")
    (tmp_path / "m.yaml").write_text(
        "jobs:\n"
        "  - {source: scaler.skops, name: a, output: out/a.onnx}\n"
        "  - {source: scaler.skops, name: b, output: out/b.onnx, sign: other.pem}\n"
        "  - {source: scaler.skops, name: c, output: out/c.onnx, sign: false}\n")
    folder = tmp_path / "out"

    def signed_by(name):
        sig = folder / f"{name}.onnx.sig"
        if not sig.exists():
            return None
        others = [p for p in folder.iterdir() if not p.name.startswith(f"{name}.onnx")] + [sig]
        return [k for k in ("key", "other") if upstream_verify(folder, sig, keys[f"{k}_pub"], others)]

    got = run_cli("batch", tmp_path / "m.yaml", "-q")
    assert got.returncode == 0, got.stderr
    assert [signed_by(n) for n in "abc"] == [None, ["other"], None]
    got = run_cli("batch", tmp_path / "m.yaml", "--sign-key", keys["key"], "-q")
    assert got.returncode == 0, got.stderr
    assert [signed_by(n) for n in "abc"] == [["key"], ["other"], None]


def test_a_folder_model_with_a_symlink_is_one_line_exit_2(tmp_path, cli, keys):
    folder = tmp_path / "bundle"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "weights.bin").symlink_to(tmp_path / "key.pub")
    code, _, err = cli("sign", folder, "--key", keys["key"])
    assert code == 2 and "symbolic links" in err and len(err.strip().splitlines()) == 2
    assert not (tmp_path / "bundle.sig").exists()
