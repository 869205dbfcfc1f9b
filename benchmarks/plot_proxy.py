"""Render docs/img/proxy_body.png (front and side, rest and bent pose).

Needs matplotlib (not a project dependency): python benchmarks/plot_proxy.py
"""
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import PolyCollection

from motionfield.body.kinematics import forward_kinematics
from motionfield.body.proxy import proxy_body, skin
from motionfield.body.rotations import axis_angle_to_matrix
from motionfield.body.skeleton import smpl_skeleton

skel = smpl_skeleton()
mesh = proxy_body(skel)
aa = np.zeros((24, 3))
pose = {"left_elbow": (0, -np.pi / 2, 0), "right_shoulder": (0, 0, 1.2),
        "right_elbow": (0, 0, 0.5), "left_hip": (-1.0, 0, 0.1), "left_knee": (1.5, 0, 0),
        "left_ankle": (-0.3, 0, 0), "spine2": (0.15, 0, 0), "head": (0, 0.5, 0),
        "right_hip": (0.2, 0, -0.1)}
for name, v in pose.items():
    aa[skel.index(name)] = v
glob, pos = forward_kinematics(axis_angle_to_matrix(aa), skel.rest_positions()[0],
                               skel.offsets, skel.parents)
bent = skin(mesh, glob, pos)
owner = mesh.weights.argmax(axis=1)
palette = np.array([[0.55, 0.62, 0.75], [0.85, 0.68, 0.55]])
limb = np.isin(np.array(skel.names)[owner], [n for n in skel.names if "_" in n])
face_col = palette[limb[mesh.faces].any(axis=1).astype(int)]


def draw(ax, verts, view, title):
    # view: (right, up, towards camera)
    right, up, back = (np.array(a, float) for a in view)
    tri = verts[mesh.faces]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    n /= np.linalg.norm(n, axis=1, keepdims=True) + 1e-12
    facing = n @ back > 0
    lamp = back + 0.4 * up + 0.3 * right
    light = np.clip(n @ lamp / np.linalg.norm(lamp), 0, 1)
    depth = tri.mean(axis=1) @ back
    order = np.argsort(depth)
    order = order[facing[order]]
    xy = np.stack([tri @ right, tri @ up], axis=-1)[order]
    col = face_col[order] * (0.35 + 0.65 * light[order, None])
    col = np.clip(col, 0, 1)
    ax.add_collection(PolyCollection(xy, facecolors=col, edgecolors=col, linewidths=0.3))
    ax.set_xlim(-0.95, 0.95)
    ax.set_ylim(-1.22, 0.6)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title, fontsize=10)


fig, axes = plt.subplots(1, 4, figsize=(11, 3.6))
front = ((1, 0, 0), (0, 1, 0), (0, 0, 1))
side = ((0, 0, -1), (0, 1, 0), (1, 0, 0))
draw(axes[0], mesh.vertices, front, "rest, front")
draw(axes[1], mesh.vertices, side, "rest, side (from its left)")
draw(axes[2], bent, front, "bent, front")
draw(axes[3], bent, side, "bent, side (from its left)")
fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.92, wspace=0.02)
fig.savefig(sys.argv[1] if len(sys.argv) > 1 else "docs/img/proxy_body.png", dpi=100)
