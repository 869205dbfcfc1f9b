"""Evaluation metrics on joint positions and rotations (numpy and scipy; no bpy).

Quaternions go through `motionfield.body.rotations`, the one place that reorders wxyz.

Units follow the inputs: pass positions in metres and the framerate in frames per second,
and position errors come back in metres, velocities in m/s, jerk in m/s^3. Convert at the
call site for tables (x 1000 for mm, x 100 for cm). Rotation errors are in degrees.

Shapes: positions are ``(..., J, 3)``; metrics over time take ``(..., T, J, 3)`` with time
on axis -3 (``T`` regularly spaced frames at ``fps``). Every error metric is a plain mean over
all leading axes, frames and joints. ``joints`` selects a subset of joint indices (axis of
``J``) before anything is computed. Mismatched shapes, non-finite values and too few frames
raise ``ValueError``.

The position and velocity metrics follow the evaluation code released with AvatarPoser
(Jiang et al. 2022) and AGRoL (Du et al. 2023), which HMD-NeMo also reports; the skating
metric follows Guided Motion Diffusion (Karunratanakul et al. 2023). Differences are noted
where they exist.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from scipy.ndimage import uniform_filter1d
from scipy.spatial.transform import Rotation

from motionfield.body.rotations import quat_to_matrix
from motionfield.body.skeleton import SMPL_JOINT_NAMES
from motionfield.body.timing import parse_fps

#: SMPL indices of ``left_foot`` and ``right_foot`` (10, 11), the joints GMD tests for skating.
SMPL_FEET: tuple[int, int] = (SMPL_JOINT_NAMES.index("left_foot"),
                              SMPL_JOINT_NAMES.index("right_foot"))

# --------------------------------------------------------------------------- validation


POSITIONS = "positions must be (..., J, 3)"
ROTATIONS = ("rotations must be (..., J, 4) wxyz quaternions or (..., J, 3, 3) rotation "
             "matrices")


def _finite(name: str, arr: np.ndarray) -> np.ndarray:
    arr = np.asarray(arr, dtype=np.float64)
    if arr.size == 0:
        raise ValueError(f"{name} is empty, shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _pair(pred: np.ndarray, target: np.ndarray, tail: tuple[int, ...],
          what: str) -> tuple[np.ndarray, np.ndarray]:
    """Both arrays as float64 of one shape ending in ``(J, *tail)``, finite."""
    pred, target = np.asarray(pred), np.asarray(target)
    if pred.shape != target.shape:
        raise ValueError(f"pred and target shapes differ: {pred.shape} vs {target.shape}")
    n = len(tail)
    if pred.ndim < n + 1 or pred.shape[pred.ndim - n:] != tail:
        raise ValueError(f"{what}, got {pred.shape}")
    if pred.size == 0:
        raise ValueError(f"pred and target are empty, shape {pred.shape}")
    return _finite("pred", pred), _finite("target", target)


def _select(arr: np.ndarray, joints: Sequence[int] | None, axis: int) -> np.ndarray:
    if joints is None:
        return arr
    idx = np.asarray(joints, dtype=np.intp)
    count = arr.shape[axis]
    if idx.ndim != 1 or idx.size == 0:
        raise ValueError(f"joints must be a non-empty list of indices, got {joints!r}")
    if np.any((idx < -count) | (idx >= count)):
        raise ValueError(f"joint indices {idx.tolist()} out of range for {count} joints")
    return np.take(arr, idx, axis=axis)


def _fps(fps: float | str | Fraction) -> float:
    """Frames per second as a float; "29.97" and 29.97 mean exactly 30000/1001."""
    return float(parse_fps(fps))


def _frames(arr: np.ndarray, need: int, what: str) -> None:
    if arr.ndim < 3 or arr.shape[-1] != 3:
        raise ValueError(f"{what} needs positions (..., T, J, 3), got {arr.shape}")
    if arr.shape[-3] < need:
        raise ValueError(f"{what} needs at least {need} frames, got {arr.shape[-3]}")


# --------------------------------------------------------------------------- positions


def joint_errors(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Euclidean distance per joint.

    Parameters
    ----------
    pred, target : (..., J, 3) joint positions

    Returns
    -------
    (..., J) distances, in the input units
    """
    pred, target = _pair(pred, target, (3,), POSITIONS)
    return np.linalg.norm(pred - target, axis=-1)


def mpjpe(pred: np.ndarray, target: np.ndarray, joints: Sequence[int] | None = None,
          mask: np.ndarray | None = None) -> float:
    """Mean per-joint position error: the mean Euclidean distance over joints and frames.

    Parameters
    ----------
    pred, target : (..., J, 3) joint positions (metres in, metres out; x 1000 for mm)
    joints : optional joint indices to evaluate
    mask : optional (..., J) booleans (after ``joints``), True where the error counts,
        e.g. frames with ground truth; the mean is over the True entries only
    """
    pred, target = _pair(pred, target, (3,), POSITIONS)
    err = joint_errors(_select(pred, joints, -2), _select(target, joints, -2))
    if mask is None:
        return float(err.mean())
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != err.shape:
        raise ValueError(f"mask must be {err.shape} (..., J), got {mask.shape}")
    if not mask.any():
        raise ValueError("mask selects no joints")
    return float(err[mask].mean())


def procrustes_align(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``pred`` moved onto ``target`` by the best similarity transform, per pose.

    For each pose (the last two axes), finds the scale s > 0, proper rotation R
    (det R = +1, never a reflection) and translation t minimising
    sum_j |s R p_j + t - q_j|^2 (Umeyama 1991): with centred points P, Q and the SVD
    P^T Q = U S V^T, R = V D U^T where D = diag(1, 1, sign det(V U^T)), and
    s = trace(S D) / |P|^2. A pose whose points all coincide gets s = 0 (every point
    lands on the target's centroid).

    Parameters
    ----------
    pred, target : (..., J, 3)

    Returns
    -------
    (..., J, 3) the aligned prediction
    """
    pred, target = _pair(pred, target, (3,), POSITIONS)
    mu_p, mu_q = pred.mean(axis=-2, keepdims=True), target.mean(axis=-2, keepdims=True)
    p, q = pred - mu_p, target - mu_q
    u, s, vt = np.linalg.svd(np.swapaxes(p, -1, -2) @ q)
    d = np.sign(np.linalg.det(np.swapaxes(vt, -1, -2) @ np.swapaxes(u, -1, -2)))
    d = np.where(d == 0, 1.0, d)
    s[..., -1] *= d
    vt[..., -1, :] *= d[..., None]
    rot_t = u @ vt  # R^T, so that rows p_j map to rows (R p_j)^T = p_j R^T
    var = np.sum(p * p, axis=(-2, -1))
    scale = np.where(var > 0, s.sum(axis=-1) / np.where(var > 0, var, 1.0), 0.0)
    return scale[..., None, None] * (p @ rot_t) + mu_q


def pa_mpjpe(pred: np.ndarray, target: np.ndarray,
             joints: Sequence[int] | None = None) -> float:
    """Procrustes-aligned MPJPE: MPJPE after `procrustes_align` of each pose.

    Each pose (``(J, 3)`` slice) is aligned on its own, using the selected joints only,
    with rotation, translation and uniform scale; reflections are not allowed.

    Parameters
    ----------
    pred, target : (..., J, 3) joint positions
    joints : optional joint indices to align and evaluate
    """
    pred, target = _pair(pred, target, (3,), POSITIONS)
    pred, target = _select(pred, joints, -2), _select(target, joints, -2)
    return mpjpe(procrustes_align(pred, target), target)


# --------------------------------------------------------------------------- rotations


def _as_matrices(name: str, rot: np.ndarray) -> np.ndarray:
    """(..., 4) wxyz or (..., 3, 3) rotations as (..., 3, 3) matrices, validated."""
    if rot.shape[-1] == 4:
        norms = np.linalg.norm(rot, axis=-1)
        if np.any(norms < 1e-8):
            raise ValueError(f"{name} holds zero quaternions")
        return quat_to_matrix(rot)
    eye = np.swapaxes(rot, -1, -2) @ rot
    if np.any(np.abs(eye - np.eye(3)) > 1e-4) or np.any(np.linalg.det(rot) <= 0):
        raise ValueError(f"{name} holds matrices that are not proper rotations "
                         "(orthonormal, det +1)")
    return rot


def rotation_errors(pred_rot: np.ndarray, target_rot: np.ndarray) -> np.ndarray:
    """Geodesic angle in degrees between rotations, per joint.

    Parameters
    ----------
    pred_rot, target_rot : (..., J, 4) quaternions wxyz (normalised here; q and -q are the
        same rotation) or (..., J, 3, 3) rotation matrices; the trailing shape decides

    Returns
    -------
    (..., J) angles of pred^-1 target, in [0, 180] degrees
    """
    shape = np.shape(pred_rot)
    tail = (4,) if shape[-1:] == (4,) else (3, 3)
    pred_rot, target_rot = _pair(pred_rot, target_rot, tail, ROTATIONS)
    rel = np.swapaxes(_as_matrices("pred_rot", pred_rot), -1, -2) @ _as_matrices(
        "target_rot", target_rot)
    angles = Rotation.from_matrix(rel.reshape(-1, 3, 3)).magnitude()
    return np.degrees(angles).reshape(rel.shape[:-2])


def mpjre(pred_rot: np.ndarray, target_rot: np.ndarray,
          joints: Sequence[int] | None = None) -> float:
    """Mean per-joint rotation error in degrees: the mean geodesic angle of pred^-1 target.

    Pass global (world) or local rotations consistently for both. Not numerically the
    MPJRE of the AvatarPoser/AGRoL code, which averages the absolute components of the
    difference of axis-angle vectors; the geodesic angle is the distance between rotations.

    Parameters
    ----------
    pred_rot, target_rot : (..., J, 4) quaternions wxyz, sign-free, or (..., J, 3, 3)
    joints : optional joint indices to evaluate
    """
    errs = rotation_errors(pred_rot, target_rot)
    return float(_select(errs, joints, -1).mean())


# --------------------------------------------------------------------------- over time


def mpjve(pred: np.ndarray, target: np.ndarray, fps: float | str | Fraction,
          joints: Sequence[int] | None = None) -> float:
    """Mean per-joint velocity error: mean |v_pred - v_target| with v = (x[t+1] - x[t]) * fps.

    Parameters
    ----------
    pred, target : (..., T, J, 3) positions, T >= 2 frames at ``fps`` (metres -> m/s)
    fps : frames per second ("29.97" and 29.97 mean 30000/1001)
    joints : optional joint indices to evaluate
    """
    pred, target = _pair(pred, target, (3,), POSITIONS)
    _frames(pred, 2, "mpjve")
    fps = _fps(fps)
    vel_p = np.diff(_select(pred, joints, -2), axis=-3) * fps
    vel_t = np.diff(_select(target, joints, -2), axis=-3) * fps
    return float(np.linalg.norm(vel_p - vel_t, axis=-1).mean())


def jitter(positions: np.ndarray, fps: float | str | Fraction,
           joints: Sequence[int] | None = None) -> float:
    """Mean jerk magnitude in (input units)/s^3: mean over frames and joints of |Δ³x| * fps³.

    Δ³x[t] = x[t+3] - 3 x[t+2] + 3 x[t+1] - x[t], the third finite difference, exactly
    the ``pred_jitter`` of the AvatarPoser and AGRoL evaluation code (the protocol
    HMD-NeMo reports). With metres this returns m/s^3; divide by 100 for a column
    labelled "Jitter [10^2 m/s^3]" (those scripts print the raw value with coefficient
    1.0, so check a reference's code before comparing numbers).

    Parameters
    ----------
    positions : (..., T, J, 3), T >= 4 frames at ``fps``
    fps : frames per second
    joints : optional joint indices to evaluate
    """
    positions = _finite("positions", np.asarray(positions))
    _frames(positions, 4, "jitter")
    jerk = np.diff(_select(positions, joints, -2), n=3, axis=-3) * _fps(fps) ** 3
    return float(np.linalg.norm(jerk, axis=-1).mean())


# --------------------------------------------------------------------------- foot skating


@dataclass(frozen=True)
class FootSkating:
    """Foot skating of one clip (see `foot_skating`).

    Attributes
    ----------
    skating_ratio : fraction of frame steps in which at least one foot skates, in [0, 1]
    sliding_speed : mean horizontal speed of feet in ground contact, m/s (0 if none is)
    contact_ratio : fraction of (foot, step) pairs in ground contact, in [0, 1]
    """

    skating_ratio: float
    sliding_speed: float
    contact_ratio: float


def _check_skating_args(positions: np.ndarray, up_axis: int, window: int,
                        **values: float | None) -> None:
    if positions.ndim != 3:
        raise ValueError(f"foot_skating needs one clip (T, J, 3), got {positions.shape}")
    _frames(positions, 2, "foot_skating")
    if up_axis not in (0, 1, 2):
        raise ValueError(f"up_axis must be 0, 1 or 2, got {up_axis}")
    if int(window) != window or window < 1:
        raise ValueError(f"window must be a whole number of steps >= 1, got {window}")
    for name, value in values.items():
        if value is not None and not np.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value}")


def foot_skating(positions: np.ndarray, fps: float | str | Fraction,
                 foot_joints: Sequence[int] = SMPL_FEET, up_axis: int = 1,
                 contact_height: float = 0.05, speed_threshold: float = 0.5,
                 window: int = 1, floor: float | None = None) -> FootSkating:
    """Feet that slide while on the ground, after Guided Motion Diffusion's skating ratio.

    For each foot joint and each step [t, t+1] between consecutive frames:

    - height h = coordinate ``up_axis`` minus the floor: ``floor`` when given, else the
      lowest height any foot joint reaches in the clip;
    - contact: h < ``contact_height`` at both t and t+1 (GMD: 5 cm);
    - horizontal speed v = |change of the two other coordinates| * fps;
    - skating: contact, v > ``speed_threshold`` (GMD: 0.5 m/s) and, when ``window`` > 1,
      also the centred mean of v over ``window`` steps above it (zero-padded past the
      clip's ends, ``scipy.ndimage.uniform_filter1d(mode="constant")``).

    GMD's own setting is ``window=5`` at 20 fps (a quarter second), ``floor=0.0`` (its
    data stand on y = 0) and SMPL joints 10 and 11; the defaults here differ only in
    ``window=1`` (no smoothing, the same meaning at any framerate) and the clip's own floor.

    Returns
    -------
    FootSkating
        skating_ratio: steps with any foot skating / (T - 1) (GMD's "skating ratio");
        sliding_speed: mean v over all (foot, step) pairs in contact, (input units)/s,
        0 for planted feet whatever the thresholds, 0 when no foot touches the ground;
        contact_ratio: (foot, step) pairs in contact / all pairs.

    Parameters
    ----------
    positions : (T, J, 3) joint positions in metres, T >= 2 frames at ``fps``
    fps : frames per second
    foot_joints : indices of the foot joints (default SMPL ``left_foot``, ``right_foot``)
    up_axis : 0, 1 or 2, the vertical coordinate (1 in the SMPL frame, 2 in Blender's)
    contact_height : metres above the floor below which a foot touches the ground
    speed_threshold : horizontal speed in m/s above which a grounded foot skates
    window : steps in the centred moving average of the speed (1: none)
    floor : ground height in metres, or None for the clip's lowest foot position
    """
    positions = _finite("positions", np.asarray(positions))
    _check_skating_args(positions, up_axis, window, contact_height=contact_height,
                        speed_threshold=speed_threshold, floor=floor)
    feet = _select(positions, foot_joints, 1)  # (T, F, 3)
    up = feet[..., up_axis]
    height = up - (up.min() if floor is None else floor)
    ground = [a for a in range(3) if a != up_axis]
    speed = np.linalg.norm(np.diff(feet[..., ground], axis=0), axis=-1) * _fps(fps)
    smooth = uniform_filter1d(speed, size=int(window), axis=0, mode="constant")
    low = height < contact_height
    contact = low[1:] & low[:-1]  # (T-1, F)
    skating = contact & (speed > speed_threshold) & (smooth > speed_threshold)
    sliding = float(speed[contact].mean()) if contact.any() else 0.0
    return FootSkating(float(skating.any(axis=1).mean()), sliding, float(contact.mean()))


# --------------------------------------------------------------------------- prediction


def horizon_frame(horizon_ms: int, fps: float | str | Fraction) -> int:
    """Index into a predicted future of the frame ``horizon_ms`` after the last input.

    The future's index 0 is one frame period after the last observed frame, so the frame
    at h milliseconds is number n = h * fps / 1000 (computed exactly, rounded half up),
    index n - 1. H3.6M at 25 fps: 80, 160, 320, 400, 560, 1000 ms -> 1, 3, 7, 9, 13, 24.
    Horizons are whole milliseconds; one under half a frame raises ValueError.
    """
    if isinstance(horizon_ms, bool) or int(horizon_ms) != horizon_ms or horizon_ms <= 0:
        raise ValueError(f"horizons must be positive integers (ms), got {horizon_ms!r}")
    frames = Fraction(int(horizon_ms)) * parse_fps(fps) / 1000
    count = int(frames + Fraction(1, 2))  # floor: both are positive
    if count < 1:
        raise ValueError(f"horizon {horizon_ms} ms is less than half a frame at "
                         f"{float(parse_fps(fps)):g} fps")
    return count - 1


def per_horizon_mpjpe(pred: np.ndarray, target: np.ndarray, fps: float | str | Fraction,
                      horizons_ms: Iterable[int],
                      joints: Sequence[int] | None = None) -> dict[int, float]:
    """MPJPE AT each horizon of a predicted future (the motion-prediction protocol).

    For each horizon h (milliseconds) the error is the MPJPE of the single future frame
    ``horizon_frame(h, fps)``, averaged over joints and any leading batch axes: the error
    at that instant, not averaged over the frames up to it.

    Parameters
    ----------
    pred, target : (..., T_future, J, 3) predicted and true future positions; index 0 is
        the first frame after the observed input
    fps : frames per second of the future
    horizons_ms : whole milliseconds; each must fall within the T_future frames
    joints : optional joint indices to evaluate

    Returns
    -------
    {h: error in the input units}, in the order given
    """
    pred, target = _pair(pred, target, (3,), POSITIONS)
    _frames(pred, 1, "per_horizon_mpjpe")
    count = pred.shape[-3]
    out: dict[int, float] = {}
    for h in horizons_ms:
        k = horizon_frame(h, fps)
        if k >= count:
            raise ValueError(f"horizon {h} ms (frame {k + 1} at {_fps(fps):g} fps) is "
                             f"beyond the {count} predicted frames")
        out[int(h)] = mpjpe(pred[..., k, :, :], target[..., k, :, :], joints)
    return out


# --------------------------------------------------------------------------- generative
# Text-to-motion metrics on embeddings (Guo et al. 2022, "Generating diverse and natural 3D
# human motions from text", the T2M protocol): each takes (N, D) arrays from one evaluator.


def _embeddings(name: str, x: np.ndarray, min_rows: int = 1) -> np.ndarray:
    x = _finite(name, np.asarray(x, dtype=np.float64))
    if x.ndim != 2 or len(x) < min_rows:
        raise ValueError(f"{name} must be (N >= {min_rows}, D) embeddings, got {x.shape}")
    return x


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """FID between two sets of embeddings (N, D) and (M, D): |mu_a - mu_b|^2 +
    tr(S_a + S_b - 2 (S_a S_b)^(1/2)), covariances with N - 1 (T2M's
    calculate_frechet_distance). The trace of the square root is taken as the sum of the
    square roots of the eigenvalues of S_a^(1/2) S_b S_a^(1/2), which has the same
    eigenvalues as S_a S_b but is symmetric: exact, real, and fast enough to bootstrap."""
    a, b = _embeddings("a", a, 2), _embeddings("b", b, 2)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"embedding sizes differ: {a.shape[1]} and {b.shape[1]}")
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    w, v = np.linalg.eigh(cov_a)
    root_a = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
    product = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
    trace_root = np.sqrt(np.clip(product, 0.0, None)).sum()
    value = (np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(cov_a) + np.trace(cov_b)
             - 2.0 * trace_root)
    return float(max(value, 0.0))  # rounding can leave -1e-12 for identical sets


def r_precision(motions: np.ndarray, texts: np.ndarray, own: np.ndarray,
                rng: np.random.Generator, top: int = 3, batch: int = 32) -> np.ndarray:
    """R-precision top-1..`top`: the share of motions whose own text ranks within the
    first k of `batch` candidate texts by euclidean distance.

    `texts` (M, D) holds every distinct text once; `own` (N,) indexes each motion's text,
    so motions with the same caption share one text. Motions are shuffled into batches of
    `batch`; a batch's candidates are the distinct texts of its motions, filled up to
    `batch` with other texts drawn at random from `texts` (T2M's batches hold 32 texts;
    here equal captions count as one text, and the fill keeps 32 different ones).
    Returns (top,) shares."""
    motions, texts = _embeddings("motions", motions), _embeddings("texts", texts)
    own = np.asarray(own)
    if own.shape != (len(motions),) or own.min() < 0 or own.max() >= len(texts):
        raise ValueError("own must give each motion's row of texts")
    if len(texts) < batch:
        raise ValueError(f"r_precision needs at least {batch} distinct texts, got {len(texts)}")
    hits = np.zeros(top)
    order = rng.permutation(len(motions))
    for start in range(0, len(order), batch):
        rows = order[start:start + batch]
        candidates = list(dict.fromkeys(own[rows].tolist()))
        others = np.setdiff1d(np.arange(len(texts)), candidates)
        candidates += rng.choice(others, batch - len(candidates), replace=False).tolist()
        dist = np.linalg.norm(motions[rows, None] - texts[candidates][None], axis=-1)
        own_dist = np.linalg.norm(motions[rows] - texts[own[rows]], axis=-1)
        rank = (dist < own_dist[:, None]).sum(1)  # texts strictly nearer than its own
        hits += (rank[:, None] < np.arange(1, top + 1)).sum(0)
    return hits / len(motions)


def matching_score(motions: np.ndarray, texts: np.ndarray) -> float:
    """Mean euclidean distance of each motion (N, D) to its own text (N, D)."""
    motions, texts = _embeddings("motions", motions), _embeddings("texts", texts)
    _pair(motions, texts, (), "texts")
    return float(np.linalg.norm(motions - texts, axis=-1).mean())


def diversity(embeddings: np.ndarray, rng: np.random.Generator, pairs: int = 300) -> float:
    """Mean euclidean distance of `pairs` random pairs of embeddings (N, D) (T2M: two
    random subsets of 300 each, compared row by row; drawn with replacement when N < 300)."""
    x = _embeddings("embeddings", embeddings, 2)
    first = rng.choice(len(x), pairs, replace=len(x) < pairs)
    second = rng.choice(len(x), pairs, replace=len(x) < pairs)
    return float(np.linalg.norm(x[first] - x[second], axis=-1).mean())


def multimodality(samples: np.ndarray, rng: np.random.Generator, pairs: int = 10) -> float:
    """Mean distance between samples of the same prompt: `samples` (P, K, D) holds K
    samples of each of P prompts; per prompt `pairs` random pairs (T2M: K = 10 samples,
    10 pairs, up to 100 prompts), averaged over prompts."""
    samples = _finite("samples", np.asarray(samples, dtype=np.float64))
    if samples.ndim != 3 or samples.shape[1] < 2:
        raise ValueError(f"samples must be (P, K >= 2, D), got {samples.shape}")
    first = rng.integers(0, samples.shape[1], (len(samples), pairs))
    second = (first + rng.integers(1, samples.shape[1], first.shape)) % samples.shape[1]
    rows = np.arange(len(samples))[:, None]
    return float(np.linalg.norm(samples[rows, first] - samples[rows, second], axis=-1).mean())


def mean_ci95(values: Iterable[float]) -> dict[str, float]:
    """Mean of repeated measurements and the half-width of its 95% interval, 1.96 sigma /
    sqrt(R) (T2M's reporting over R repetitions)."""
    arr = _finite("values", np.asarray(list(values), dtype=np.float64))
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError("mean_ci95 needs a non-empty list of numbers")
    half = 1.96 * arr.std() / np.sqrt(len(arr)) if len(arr) > 1 else 0.0
    return {"mean": float(arr.mean()), "ci95": float(half), "repeats": int(len(arr))}
