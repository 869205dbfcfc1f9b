"""The user's own SMPL / SMPL-H / SMPL-X model files, through the `smplx` package. No bpy.

Model files are licensed by their owners (MPI) and never shipped; users point motionfield
at the copies they downloaded. Two file kinds exist:

* `.npz` (SMPL-X, AMASS SMPL-H, converted SMPL): read with ``allow_pickle=False``; entries
  stored as pickled objects (SMPL-X keeps two small dicts that way) are skipped, unread.
* the official SMPL `.pkl`: a Python 2 pickle holding numpy arrays, a scipy sparse
  `J_regressor` and `chumpy.Ch` objects. It is read by `_SafeUnpickler`, never by
  `pickle.load`.

Why reading a `.pkl` this way is safe: a pickle can only call a callable or build a
class instance after naming it by module and attribute (opcodes GLOBAL, STACK_GLOBAL,
INST, OBJ and the copyreg extension codes all go through `Unpickler.find_class`);
REDUCE, NEWOBJ and BUILD then act only on what `find_class` returned. Our `find_class`
resolves nothing by import: it answers from a fixed table of numpy array and dtype
reconstructors (which build arrays and nothing else), `set`/`frozenset`, a latin-1-only
bytes encoder, and a copyreg reconstructor that only instantiates our own stand-ins.
scipy sparse matrices and every `chumpy` class become inert stand-in classes that just
keep their pickled state; the arrays are pulled out of that state afterwards. Any other
name (``os.system``, ``builtins.eval``, ``numpy.load``...) raises `BodyModelError`
before anything runs. `persistent_load` is not overridden, so persistent ids are refused
too. The arrays then reach `smplx` as plain numpy data (directly, or for SMPL-X through a
temporary `.npz` of plain numeric and text arrays, which smplx's own `np.load` reads
without unpickling anything).
"""

from __future__ import annotations

import contextlib
import io
import pickle
import tempfile
import zipfile
from collections.abc import Mapping
from functools import cache, lru_cache
from pathlib import Path

import numpy as np
import scipy.sparse
import smplx
import torch
from smplx.lbs import blend_shapes, lbs, vertices2joints
from smplx.utils import Struct

from motionfield.body.proxy import MAX_INFLUENCES, SkinnedMesh
from motionfield.body.rotations import quat_to_axis_angle
from motionfield.body.skeleton import SMPL_JOINT_NAMES, SMPL_PARENTS, Skeleton
from motionfield.errors import MotionfieldError
from motionfield.motion import Motion

MODEL_TYPES = ("smpl", "smplh", "smplx")
GENDERS = ("neutral", "male", "female")
REQUIRED_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights",
                 "kintree_table", "f")
NUM_KINEMATIC_JOINTS = {"smpl": 24, "smplh": 52, "smplx": 55}
# Where each hand's 15 finger joints start in the model's kinematic joints (order per
# hand: index1-3, middle1-3, pinky1-3, ring1-3, thumb1-3; see smplx.joint_names).
HAND_START = {"smplh": (22, 37), "smplx": (25, 40)}
_MIDDLE1 = 3
_FILE_STEMS = {"smpl": "SMPL", "smplh": "SMPLH", "smplx": "SMPLX"}


class BodyModelError(MotionfieldError, ValueError):
    """A body model file that is missing, malformed, or refers to something unsafe."""


# --------------------------------------------------------------------------- safe pickle


class _StandIn:
    """An inert object that keeps whatever state a pickle gives it."""

    origin = "?"

    def __new__(cls, *args, **kwargs):
        obj = object.__new__(cls)
        obj.args, obj.state = args, None
        return obj

    def __setstate__(self, state) -> None:
        self.state = state


class _Sparse(_StandIn):
    """Stands in for scipy.sparse csc/csr matrices (state: data, indices, indptr, shape)."""


class _Chumpy(_StandIn):
    """Stands in for any chumpy class; a plain `Ch` keeps its array in state['x']."""


@cache
def _chumpy_class(module: str, name: str) -> type:
    return type(name, (_Chumpy,), {"origin": f"{module}.{name}"})


def _reconstructor(cls: type, base: type, state: object) -> object:
    """copyreg._reconstructor for protocol 0/1 pickles, limited to our stand-ins."""
    if not (isinstance(cls, type) and issubclass(cls, _StandIn)) or base is not object:
        raise BodyModelError("refusing to load a copyreg-reconstructed class outside the "
                             "allowed model-file classes; nothing was run")
    return cls()


def _latin1(text: str, encoding: str = "utf-8") -> bytes:
    """_codecs.encode as Python 3 pickles use it for bytes (latin-1 only)."""
    if encoding.replace("-", "").lower() != "latin1" or not isinstance(text, str):
        raise BodyModelError(f"refusing codec {encoding!r} in a model file; nothing was run")
    return text.encode("latin-1")


def _numpy_globals() -> dict[tuple[str, str], object]:
    try:  # numpy >= 2 (1.26 has these as aliases too)
        from numpy._core import multiarray, numeric
    except ImportError:  # pragma: no cover - older numpy
        from numpy.core import multiarray, numeric

    table: dict[tuple[str, str], object] = {("numpy", "ndarray"): np.ndarray,
                                            ("numpy", "dtype"): np.dtype}
    for pkg in ("numpy.core", "numpy._core"):
        table[(f"{pkg}.multiarray", "_reconstruct")] = multiarray._reconstruct
        table[(f"{pkg}.multiarray", "scalar")] = multiarray.scalar
        table[(f"{pkg}.numeric", "_frombuffer")] = numeric._frombuffer
    return table


_ALLOWED: dict[tuple[str, str], object] = {
    **_numpy_globals(),
    ("__builtin__", "set"): set, ("builtins", "set"): set,
    ("__builtin__", "frozenset"): frozenset, ("builtins", "frozenset"): frozenset,
    ("__builtin__", "object"): object, ("builtins", "object"): object,
    ("copy_reg", "_reconstructor"): _reconstructor,
    ("copyreg", "_reconstructor"): _reconstructor,
    ("_codecs", "encode"): _latin1,
}
_SPARSE_NAMES = {"csc_matrix", "csr_matrix", "csc_array", "csr_array"}
_SPARSE_MODULES = {"scipy.sparse", "scipy.sparse.csc", "scipy.sparse.csr",
                   "scipy.sparse._csc", "scipy.sparse._csr", "scipy.sparse._arrays"}


class _SafeUnpickler(pickle.Unpickler):
    """An unpickler that resolves names only from a fixed table (see the module docstring)."""

    def find_class(self, module: str, name: str) -> object:
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module in _SPARSE_MODULES and name in _SPARSE_NAMES:
            return _Sparse
        if module == "chumpy" or module.startswith("chumpy."):
            return _chumpy_class(module, name)
        raise BodyModelError(
            f"refusing to load {module}.{name} from a model file: only numpy arrays, scipy "
            "sparse matrices and chumpy arrays are allowed; nothing was run")


def _sparse_to_dense(obj: _Sparse) -> np.ndarray:
    state = obj.state if isinstance(obj.state, dict) else {}
    shape = state.get("_shape", state.get("shape"))
    fmt = state.get("format", "csc")
    try:
        parts = (np.asarray(state["data"]), np.asarray(state["indices"]),
                 np.asarray(state["indptr"]))
        cls = scipy.sparse.csr_matrix if fmt == "csr" else scipy.sparse.csc_matrix
        return cls(parts, shape=tuple(int(n) for n in shape)).toarray()
    except (KeyError, TypeError, ValueError) as e:
        raise BodyModelError(f"malformed sparse matrix in a model file: {e}") from None


def _chumpy_to_array(obj: _Chumpy) -> np.ndarray:
    state = obj.state if isinstance(obj.state, dict) else {}
    value = state.get("x")
    if isinstance(value, _Chumpy):
        return _chumpy_to_array(value)
    if value is None or isinstance(value, _StandIn):
        raise BodyModelError(
            f"the model file holds a chumpy expression ({obj.origin}) rather than a stored "
            "array; convert it once where chumpy is installed (np.array(value) per key) "
            "and save the arrays as .npz")
    return np.asarray(value)


def _to_array(value: object) -> np.ndarray | None:
    """A numeric (or text) numpy array for a model-file value; None for what smplx never
    needs (dicts, pickled objects)."""
    if isinstance(value, _Chumpy):
        value = _chumpy_to_array(value)
    elif isinstance(value, _Sparse):
        value = _sparse_to_dense(value)
    elif isinstance(value, (list, tuple)):
        try:
            value = np.asarray(value)
        except ValueError:
            return None
    if isinstance(value, str):
        value = np.array(value)
    if isinstance(value, np.ndarray) and value.dtype.kind in "biufU":
        return value
    return None


def _numeric_dict(raw: Mapping) -> dict[str, np.ndarray]:
    arrays = {}
    for key, value in raw.items():
        array = _to_array(value)
        if array is not None:
            arrays[str(key)] = array
    return arrays


def safe_unpickle(data: bytes) -> dict[str, np.ndarray]:
    """The arrays of a pickled SMPL-family model dict, read by the restricted unpickler.

    Returns numeric and text arrays only (chumpy arrays and sparse matrices made dense);
    raises `BodyModelError` for anything else the pickle names, before it is called.
    """
    try:
        raw = _SafeUnpickler(io.BytesIO(data), encoding="latin1").load()
    except BodyModelError:
        raise
    except (pickle.UnpicklingError, EOFError, AttributeError, TypeError, ValueError,
            IndexError, KeyError) as e:
        raise BodyModelError(f"not a readable model pickle ({e})") from None
    if not isinstance(raw, dict):
        raise BodyModelError(f"a model pickle holds a dict, not {type(raw).__name__}")
    return _numeric_dict(raw)


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """The numeric and text arrays of an .npz; object arrays are skipped, never unpickled."""
    arrays = {}
    try:
        with np.load(path, allow_pickle=False) as z:
            for key in z.files:
                try:
                    array = _to_array(z[key])
                except ValueError:  # an object array (pickled): left unread
                    continue
                if array is not None:
                    arrays[key] = array
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise BodyModelError(f"{path}: not a readable .npz ({e})") from None
    return arrays


def read_model_file(path: str | Path) -> dict[str, np.ndarray]:
    """The numeric arrays of a model file (`.npz` or `.pkl`), never unpickling unsafely."""
    path = Path(path)
    if not path.is_file():
        raise BodyModelError(f"{path}: no such model file")
    if path.suffix.lower() == ".pkl":
        try:
            arrays = safe_unpickle(path.read_bytes())
        except BodyModelError as e:
            raise BodyModelError(f"{path}: {e}") from None
    elif path.suffix.lower() == ".npz":
        arrays = _read_npz(path)
    else:
        raise BodyModelError(f"{path}: a body model is a .npz or .pkl file")
    missing = [k for k in REQUIRED_KEYS if k not in arrays]
    if missing:
        raise BodyModelError(f"{path}: not an SMPL-family model (missing {', '.join(missing)})")
    return arrays


def convert_model_file(pkl_path: str | Path, npz_path: str | Path) -> Path:
    """Convert an official `.pkl` model into a pickle-free `.npz` (plain arrays only)."""
    arrays = read_model_file(pkl_path)
    npz_path = Path(npz_path)
    if npz_path.suffix != ".npz":  # np.savez would add it
        npz_path = npz_path.with_name(npz_path.name + ".npz")
    np.savez(npz_path, **arrays)
    return npz_path


# --------------------------------------------------------------------------- loading


def _type_from_joints(arrays: Mapping[str, np.ndarray]) -> str:
    """'smpl', 'smplh' or 'smplx' from the number of kinematic joints (24, 52, 55)."""
    joints = int(arrays["J_regressor"].shape[0])
    for kind, count in NUM_KINEMATIC_JOINTS.items():
        if joints == count:
            return kind
    raise BodyModelError(f"a model with {joints} joints is neither SMPL (24), SMPL-H (52) "
                         "nor SMPL-X (55)")


def _type_from_name(path: Path) -> str | None:
    name = path.name.lower().replace("+", "").replace("_h", "h").replace("-", "")
    for kind in ("smplx", "smplh", "smpl"):
        if kind in name:
            return kind
    return None


def infer_model_type(arrays: Mapping[str, np.ndarray], path: Path | None = None,
                     model_type: str | None = None) -> str:
    """The model type from its joint count; a file name or argument naming another is an
    error."""
    kind = _type_from_joints(arrays)
    for claim, what in ((model_type, "asked for"), (path and _type_from_name(path), "named")):
        if claim and claim != kind:
            raise BodyModelError(f"{path or 'the file'} holds a {kind} model "
                                 f"({NUM_KINEMATIC_JOINTS[kind]} joints), not the {claim} "
                                 f"{what}")
    return kind


def _find_in_folder(folder: Path, gender: str, model_type: str | None) -> Path:
    """`smplx`'s layouts: TYPE_GENDER.ext in the folder or in its type subfolder
    (e.g. models/smpl/SMPL_NEUTRAL.pkl), and AMASS's type/gender/model.npz."""
    for kind in (model_type,) if model_type else MODEL_TYPES:
        for sub in (folder, folder / kind):
            for ext in ("npz", "pkl"):
                candidate = sub / f"{_FILE_STEMS[kind]}_{gender.upper()}.{ext}"
                if candidate.is_file():
                    return candidate
            if (sub / gender / "model.npz").is_file():
                return sub / gender / "model.npz"
    raise BodyModelError(
        f"{folder}: no {model_type or 'SMPL/SMPL-H/SMPL-X'} model for gender {gender!r} "
        f"(looked for e.g. SMPL_{gender.upper()}.pkl / .npz, there and in smpl/)")


def _build_module(arrays: dict[str, np.ndarray], model_type: str, gender: str) -> smplx.SMPL:
    """The smplx module (float64, CPU), built from plain arrays; smplx's chatter muted."""
    kwargs = dict(gender=gender, dtype=torch.float64, batch_size=1,
                  num_betas=int(arrays["shapedirs"].shape[-1]))
    hands = dict(use_pca=False, flat_hand_mean=True)
    with contextlib.redirect_stdout(io.StringIO()):
        if model_type == "smpl":
            return smplx.SMPL("", data_struct=Struct(**arrays), **kwargs)
        if model_type == "smplh":
            return smplx.SMPLH("", data_struct=Struct(**arrays), **hands, **kwargs)
        with tempfile.TemporaryDirectory() as tmp:  # SMPLX only reads files
            path = Path(tmp) / "model.npz"
            np.savez(path, **arrays)  # numeric arrays only: smplx's np.load unpickles nothing
            return smplx.SMPLX(str(path), ext="npz", **hands, **kwargs)


def load_body_model(path: str | Path, gender: str = "neutral",
                    model_type: str | None = None) -> BodyModel:
    """Load the user's SMPL, SMPL-H or SMPL-X model.

    Parameters
    ----------
    path : a model file (`.npz`, or the official `.pkl`) or a folder laid out as `smplx`
        expects (``SMPL_NEUTRAL.pkl`` there or in ``smpl/``; AMASS ``smplh/neutral/model.npz``)
    gender : 'neutral', 'male' or 'female' (chooses the file inside a folder)
    model_type : 'smpl', 'smplh' or 'smplx'; None infers it from the joint count
    """
    if gender not in GENDERS:
        raise BodyModelError(f"gender must be one of {GENDERS}, got {gender!r}")
    if model_type is not None and model_type not in MODEL_TYPES:
        raise BodyModelError(f"model_type must be one of {MODEL_TYPES} or None, "
                             f"got {model_type!r}")
    path = Path(path)
    if path.is_dir():
        path = _find_in_folder(path, gender, model_type)
    arrays = read_model_file(path)
    kind = infer_model_type(arrays, path, model_type)
    try:
        module = _build_module(arrays, kind, gender)
    except (AttributeError, KeyError, IndexError, ValueError, RuntimeError) as e:
        raise BodyModelError(f"{path}: not a usable {kind} model ({e})") from None
    return BodyModel(module, kind, gender, source=path)


def rest_body(path: str | Path, gender: str = "neutral", betas: np.ndarray | None = None,
              model_type: str | None = None) -> tuple[SkinnedMesh, Skeleton]:
    """The user's body in its rest (T) pose on the 24 SMPL joints: the shaped mesh
    (v_template + shapedirs . betas) with its skinning weights, and the skeleton it is bound
    to (from the model's joint regressor; its rest positions are `mesh.bind_positions`).
    `path` and `gender` as in `load_body_model`. Repeated calls for an unchanged file are
    answered from a small cache, so each import does not re-read a 100 MB SMPL-X file."""
    path = Path(path)
    if not path.exists():
        raise BodyModelError(f"{path}: no such SMPL model folder or file")
    if gender not in GENDERS:
        raise BodyModelError(f"gender must be one of {GENDERS}, got {gender!r}")
    file = _find_in_folder(path, gender, model_type) if path.is_dir() else path
    stat = file.stat()
    key = None if betas is None else tuple(np.asarray(betas, dtype=np.float64).ravel())
    return _rest_body(str(file.resolve()), (stat.st_mtime_ns, stat.st_size), gender,
                      model_type, key)


@lru_cache(maxsize=8)
def _rest_body(file: str, stamp: tuple[int, int], gender: str, model_type: str | None,
               betas: tuple[float, ...] | None) -> tuple[SkinnedMesh, Skeleton]:
    """`rest_body` for one file version (`stamp` keys the cache; the results are immutable)."""
    model = load_body_model(file, gender, model_type)
    b = None if betas is None else np.array(betas)
    return model.rest_mesh(b), model.skeleton(b)


def _strongest(weights: np.ndarray, count: int) -> np.ndarray:
    """Each row's `count` largest weights, renormalised to sum to 1 (the usual limit of
    real-time skinning, and `SkinnedMesh`'s)."""
    weights = np.clip(weights, 0.0, None)
    if weights.shape[1] > count:
        weakest = np.argsort(weights, axis=1)[:, :-count]
        np.put_along_axis(weights, weakest, 0.0, axis=1)
    total = weights.sum(axis=1, keepdims=True)
    if np.any(total <= 0):
        raise BodyModelError("a model vertex has no skinning weight on any joint")
    return weights / total


# --------------------------------------------------------------------------- the model


class BodyModel:
    """A loaded SMPL-family body, posed from motionfield `Motion`s on the SMPL skeleton.

    The 24 SMPL joints map onto the model's kinematic joints as follows. SMPL: one to one.
    SMPL-H and SMPL-X: the first 22 body joints are shared; SMPL's `left_hand` /
    `right_hand` (at the knuckles) are played by the middle fingers' base joints
    (`left_middle1` / `right_middle1`, SMPL-X joints 28 / 43, SMPL-H 25 / 40). Fingers
    stay flat (SMPL's hand-joint rotations are not applied to them), and SMPL-X's jaw
    and eyes stay at rest.
    """

    def __init__(self, module: smplx.SMPL, model_type: str, gender: str = "neutral",
                 source: Path | None = None):
        joints = int(module.J_regressor.shape[0])
        if joints != NUM_KINEMATIC_JOINTS[model_type]:
            raise BodyModelError(f"a {model_type} model has {NUM_KINEMATIC_JOINTS[model_type]}"
                                 f" joints; this one has {joints}")
        self.module = module.eval()
        self.model_type = model_type
        self.gender = gender
        self.source = source
        self.joint_map = self._joint_map()
        parents = [int(p) for p in module.parents]
        mapped = [-1] + [self.joint_map.index(parents[k]) if parents[k] in self.joint_map
                         else None for k in self.joint_map[1:]]
        if tuple(mapped) != SMPL_PARENTS:
            raise BodyModelError(f"this {model_type} model's kinematic tree does not match "
                                 "SMPL's joint hierarchy")

    def _joint_map(self) -> tuple[int, ...]:
        """The model's kinematic joint index for each of the 24 SMPL joints."""
        if self.model_type == "smpl":
            return tuple(range(24))
        left, right = HAND_START[self.model_type]
        return (*range(22), left + _MIDDLE1, right + _MIDDLE1)

    @property
    def faces(self) -> np.ndarray:
        """(F, 3) int64 triangle vertex indices."""
        return self.module.faces_tensor.numpy().astype(np.int64)

    @property
    def num_betas(self) -> int:
        return int(self.module.num_betas)

    @property
    def num_vertices(self) -> int:
        return int(self.module.v_template.shape[0])

    def _betas(self, betas: np.ndarray | None, batch: int = 1) -> torch.Tensor:
        """(batch, num_betas): the given coefficients, zero-padded."""
        out = torch.zeros(batch, self.num_betas, dtype=torch.float64)
        if betas is not None:
            b = np.asarray(betas, dtype=np.float64).reshape(-1)
            if len(b) > self.num_betas or not np.all(np.isfinite(b)):
                raise BodyModelError(f"this model takes at most {self.num_betas} finite betas "
                                     f"(shape coefficients); got {len(b)}")
            out[:, : len(b)] = torch.from_numpy(b)
        return out

    def _shaped(self, betas: np.ndarray | None) -> torch.Tensor:
        """(1, V, 3) the rest-pose template with the shape blend shapes applied."""
        m = self.module
        with torch.no_grad():
            return m.v_template[None] + blend_shapes(self._betas(betas), m.shapedirs)

    def rest_joints(self, betas: np.ndarray | None = None) -> np.ndarray:
        """(K, 3) the model's kinematic joints in its rest pose (its own joint regressor)."""
        with torch.no_grad():
            return vertices2joints(self.module.J_regressor, self._shaped(betas))[0].numpy()

    def _weight_owners(self) -> list[int]:
        """For each model joint, the SMPL joint that takes over its skinning weights: itself
        when it is one of the 24, else its nearest such ancestor. For SMPL-H/X only the 22
        shared body joints own weights, so every finger (the middle-finger base that plays
        SMPL's hand too) follows the wrist and jaw and eyes the head, as `pose` leaves them
        at rest."""
        owners = self.joint_map if self.model_type == "smpl" else self.joint_map[:22]
        smpl_index = {k: i for i, k in enumerate(owners)}
        parents = [int(p) for p in self.module.parents]
        out = []
        for k in range(len(parents)):
            j = k
            while j not in smpl_index:
                j = parents[j]
            out.append(smpl_index[j])
        return out

    def body_weights(self) -> np.ndarray:
        """(V, 24) skinning weights on the 24 SMPL joints (see `_weight_owners`), at most
        four per vertex, rows summing to 1."""
        weights = self.module.lbs_weights.numpy().astype(np.float64)
        fold = np.zeros((weights.shape[1], 24))
        fold[np.arange(weights.shape[1]), self._weight_owners()] = 1.0
        return _strongest(weights @ fold, MAX_INFLUENCES)

    def rest_mesh(self, betas: np.ndarray | None = None) -> SkinnedMesh:
        """The shaped body in its rest pose, skinned to the 24 SMPL joints; its
        `bind_positions` are the rest joints of `skeleton(betas)`."""
        verts = self._shaped(betas)[0].numpy()
        joints = self.rest_joints(betas)[list(self.joint_map)]
        try:
            return SkinnedMesh(verts, self.faces, self.body_weights(), SMPL_JOINT_NAMES, joints)
        except ValueError as e:
            raise BodyModelError(f"{self.source}: unusable mesh or skinning weights ({e})") \
                from None

    def skeleton(self, betas: np.ndarray | None = None) -> Skeleton:
        """The 24-joint SMPL skeleton of this body shape (see the class docstring)."""
        pos = self.rest_joints(betas)[list(self.joint_map)]
        offsets = pos.copy()
        offsets[1:] -= pos[list(SMPL_PARENTS[1:])]
        return Skeleton(SMPL_JOINT_NAMES, SMPL_PARENTS, offsets)

    def _full_pose(self, rotations: np.ndarray) -> torch.Tensor:
        """(T, 24, 4) wxyz SMPL rotations -> (T, K * 3) axis-angle pose of all model joints."""
        aa = quat_to_axis_angle(rotations)
        full = np.zeros((len(aa), len(self.module.parents), 3))
        used = 24 if self.model_type == "smpl" else 22
        full[:, :used] = aa[:, :used]
        return torch.from_numpy(full.reshape(len(aa), -1))

    def pose(self, motion: Motion, betas: np.ndarray | None = None,
             chunk: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """Posed vertices (T, V, 3) and the 24 SMPL joints (T, 24, 3) for a Motion.

        The motion must be on the SMPL skeleton (its joint names). `betas` (default: the
        motion's own, else zeros) shape the body; the model's own joints for that shape are
        used, and `transl` is chosen so the pelvis lands on `motion.root_translation`.
        Rotations go to smplx's `lbs` as axis-angle (converted by body.rotations).
        """
        if motion.skeleton.names != SMPL_JOINT_NAMES:
            raise ValueError("BodyModel poses motions on the 24-joint SMPL skeleton; "
                             "retarget the motion first")
        betas = motion.betas if betas is None else betas
        m = self.module
        transl = motion.root_translation - self.rest_joints(betas)[0]
        verts, joints = [], []
        with torch.no_grad():
            for i in range(0, motion.num_frames, chunk):
                full = self._full_pose(motion.rotations[i:i + chunk])
                v, j = lbs(self._betas(betas, len(full)), full, m.v_template, m.shapedirs,
                           m.posedirs, m.J_regressor, m.parents, m.lbs_weights)
                shift = torch.from_numpy(transl[i:i + chunk])[:, None]
                verts.append((v + shift).numpy())
                joints.append((j[:, list(self.joint_map)] + shift).numpy())
        return np.concatenate(verts), np.concatenate(joints)

    def vertices(self, motion: Motion, betas: np.ndarray | None = None) -> np.ndarray:
        """(T, V, 3) posed vertices for a Motion on the SMPL skeleton (see `pose`)."""
        return self.pose(motion, betas)[0]

    def joints(self, motion: Motion, betas: np.ndarray | None = None) -> np.ndarray:
        """(T, 24, 3) the model's posed SMPL joints for a Motion (see `pose`)."""
        return self.pose(motion, betas)[1]
