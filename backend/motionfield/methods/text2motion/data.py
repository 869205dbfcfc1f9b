"""The labelled motion text-to-motion learns from: takes, their captions and the splits.

Takes come from the built sets (`motionfield data build`) of the sources whose files carry
labels: Bandai Namco 1 and 2 (content x style, from each file's name and JSON) and
ReActIdle (idle, acted or genuine, from its folders). Every take stays at its native
framerate. Labels are unified across the two Bandai sets (their "old" and "elderly" are
one style) so that a held-out pair is held out of both.

Splits (deterministic; `SPLIT_RULE`):
  test_novel, val_novel   every take of a held-out content x style pair: 7 pairs each,
                          drawn so that every content and every style keeps pairs in training
  test, val               held-out takes of pairs seen in training (sha256 of the take id)
  train                   the rest
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from motionfield.body.rotations import quat_multiply, quat_rotate
from motionfield.body.timing import parse_fps
from motionfield.errors import DataError
from motionfield.methods.text2motion.config import MAX_SECONDS

SOURCES = ("bandai-namco-1", "bandai-namco-2", "ReActIdle")
SPLITS = ("train", "val", "test", "val_novel", "test_novel")
LICENCE = ("CC BY-NC 4.0 (Bandai Namco Research Motiondataset, non-commercial); "
           "MIT (ReActIdle, Atxa Landa et al.)")
NOVEL_PAIRS = 7     # pairs held out per novel split
SPLIT_RULE = (
    f"content x style pairs with at least 3 takes, ordered by sha256 of 'pair:content|style'; "
    f"greedily the first {NOVEL_PAIRS} whose content and style each keep 2 other pairs go to "
    f"test_novel, the next {NOVEL_PAIRS} to val_novel (idle excluded); the other takes by "
    f"sha256 of 'take:<id>' -> u: test if u < 0.1, val if u < 0.2, else train; pairs with "
    f"one take are train only")

# Bandai names -> one vocabulary (their own spellings kept where they already agree)
STYLE_NAMES = {"old": "elderly", "tired": "exhausted", "masculinity": "masculine",
               "childish": "childish", "not-confident": "not-confident"}
CONTENT_WORDS = {
    "walk": ("walks", "walks forward", "is walking"),
    "run": ("runs", "runs forward", "is running"),
    "dash": ("dashes", "sprints forward", "dashes ahead"),
    "walk-back": ("walks backwards", "steps backwards", "walks back"),
    "walk-left": ("walks to the left", "sidesteps left", "walks sideways to the left"),
    "walk-right": ("walks to the right", "sidesteps right", "walks sideways to the right"),
    "walk-turn-left": ("walks and turns left", "walks in a left turn", "turns left while walking"),
    "walk-turn-right": ("walks and turns right", "walks in a right turn",
                        "turns right while walking"),
    "bow": ("bows", "takes a bow", "bows politely"),
    "bye": ("waves goodbye", "says bye with a wave", "gives a goodbye wave"),
    "byebye": ("waves goodbye with both hands", "waves bye-bye", "waves farewell eagerly"),
    "guide": ("guides someone the way", "gestures to show the way", "points the way"),
    "respond": ("responds to a call", "answers someone", "reacts and replies"),
    "call": ("calls someone over", "beckons someone", "calls out to someone"),
    "punch": ("throws a punch", "punches", "strikes with a fist"),
    "kick": ("kicks", "throws a kick", "kicks forward"),
    "slash": ("slashes with a sword", "swings a blade", "makes a slashing attack"),
    "dance-long": ("dances", "performs a long dance", "dances for a while"),
    "dance-short": ("does a short dance", "dances briefly", "performs a short dance move"),
    "wave-both-hands": ("waves both hands", "waves with both hands", "waves both arms"),
    "wave-left-hand": ("waves the left hand", "waves with the left hand", "waves left handed"),
    "wave-right-hand": ("waves the right hand", "waves with the right hand",
                        "waves right handed"),
    "raise-up-both-hands": ("raises both hands", "puts both hands up", "lifts both arms up"),
    "raise-up-left-hand": ("raises the left hand", "puts the left hand up",
                           "lifts the left arm"),
    "raise-up-right-hand": ("raises the right hand", "puts the right hand up",
                            "lifts the right arm"),
    "idle": ("stands idle", "waits while standing", "stands in place"),
}
STYLE_WORDS = {
    "normal": ("normally", "in a normal way", "in a neutral manner"),
    "happy": ("happily", "in a happy way", "cheerfully"),
    "sad": ("sadly", "in a sad way", "with sorrow"),
    "angry": ("angrily", "in an angry way", "furiously"),
    "proud": ("proudly", "in a proud way", "with pride"),
    "not-confident": ("unconfidently", "in a timid way", "without confidence"),
    "masculine": ("in a masculine way", "manfully", "with a masculine manner"),
    "feminine": ("in a feminine way", "gracefully and femininely", "with a feminine manner"),
    "childish": ("childishly", "like a child", "in a childish way"),
    "elderly": ("like an old person", "in an elderly way", "like an elderly person"),
    "exhausted": ("tiredly", "in an exhausted way", "as if exhausted"),
    "active": ("energetically", "in an active way", "full of energy"),
    "musical": ("like in a musical", "theatrically", "in a musical style"),
    "giant": ("like a giant", "heavily like a giant", "in a giant's way"),
    "chimpira": ("like a thug", "in a delinquent way", "with a swagger like a hoodlum"),
    "youthful": ("youthfully", "in a youthful way", "like a young person"),
    "acted": ("as if acting", "in an acted way", "in a performed way"),
    "genuine": ("naturally", "in a relaxed natural way", "genuinely"),
}
SUBJECTS = ("a person", "someone", "a man", "a woman")


@dataclass
class Take:
    """One labelled take at its native framerate, turned to start at the origin facing +Z."""

    id: str
    source: str
    content: str
    style: str
    fps: float
    rotations: np.ndarray        # (T, 24, 4) wxyz, float32
    root_translation: np.ndarray  # (T, 3) metres, Y up
    split: str

    @property
    def seconds(self) -> float:
        return (len(self.rotations) - 1) / self.fps

    @property
    def pair(self) -> tuple[str, str]:
        return self.content, self.style


def captions(content: str, style: str) -> list[str]:
    """Every phrasing of a content x style label (subjects x verbs x adverbs)."""
    if content not in CONTENT_WORDS or style not in STYLE_WORDS:
        raise DataError(f"no caption words for {content!r} x {style!r}")
    return [f"{who} {verb} {how}" for who, verb, how in
            itertools.product(SUBJECTS, CONTENT_WORDS[content], STYLE_WORDS[style])]


def caption(content: str, style: str) -> str:
    """The one canonical caption of a label (evaluation prompts)."""
    return f"a person {CONTENT_WORDS[content][0]} {STYLE_WORDS[style][0]}"


def _unit(text: str) -> float:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") / 2**64


def novel_pairs(pairs: dict[tuple[str, str], int]) -> tuple[set, set]:
    """(test_novel, val_novel) pairs from {pair: take count}: see SPLIT_RULE."""
    chosen: list[tuple[str, str]] = []
    remaining = dict(pairs)
    for pair in sorted((p for p, n in pairs.items() if n >= 3 and p[0] != "idle"),
                       key=lambda p: _unit(f"pair:{p[0]}|{p[1]}")):
        if len(chosen) == 2 * NOVEL_PAIRS:
            break
        others = [p for p in remaining if p != pair]
        if (sum(p[0] == pair[0] for p in others) >= 2
                and sum(p[1] == pair[1] for p in others) >= 2):
            chosen.append(pair)
            del remaining[pair]
    return set(chosen[:NOVEL_PAIRS]), set(chosen[NOVEL_PAIRS:])


def _labels(source: str, clip: dict) -> tuple[str, str]:
    labels = clip["labels"]
    if source == "ReActIdle":
        return "idle", labels["folder"].split("/")[0]
    return labels["content"], STYLE_NAMES.get(labels["style"], labels["style"])


def canonical(rotations: np.ndarray, root_translation: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """Turn a take about Y so its first frame faces +Z and move it to start above the
    origin (height kept): generation starts from one place and heading."""
    forward = quat_rotate(rotations[0, 0], np.array([0.0, 0.0, 1.0]))
    yaw = np.arctan2(forward[0], forward[2])
    turn = np.array([np.cos(-yaw / 2), 0.0, np.sin(-yaw / 2), 0.0])
    rot = rotations.copy()
    rot[:, 0] = quat_multiply(np.broadcast_to(turn, rot[:, 0].shape), rot[:, 0])
    trans = quat_rotate(np.broadcast_to(turn, (len(root_translation), 4)), root_translation)
    trans[:, [0, 2]] -= trans[0, [0, 2]]
    return rot.astype(np.float32), trans.astype(np.float32)


def load_takes(data_root: Path | None = None, sources: tuple[str, ...] = SOURCES,
               progress: bool = True) -> list[Take]:
    """Every labelled take of `sources` (built now if their sets are missing or stale),
    canonical, with its split."""
    from motionfield.data.takes import built_clips

    raw = []
    for clip in built_clips(sources, data_root, progress):
        content, style = _labels(clip.source, clip.entry)
        raw.append((clip.id, clip.source, content, style, float(parse_fps(clip.entry["fps"])),
                    clip.rotations, clip.root_translation))
    counts: dict[tuple[str, str], int] = {}
    for item in raw:
        counts[item[2:4]] = counts.get(item[2:4], 0) + 1
    test_novel, val_novel = novel_pairs(counts)
    takes = []
    for take_id, source, content, style, fps, rot, trans in raw:
        pair = (content, style)
        if pair in test_novel:
            split = "test_novel"
        elif pair in val_novel:
            split = "val_novel"
        elif counts[pair] == 1:
            split = "train"
        else:
            u = _unit(f"take:{take_id}")
            split = "test" if u < 0.1 else "val" if u < 0.2 else "train"
        takes.append(Take(take_id, source, content, style, fps, *canonical(rot, trans), split))
    return takes


def clips(takes: list[Take], seed: int = 0, min_seconds: float = 4.0) -> list[Take]:
    """Takes cut into training clips: a take of at most MAX_SECONDS is one clip; a longer
    one is cut into consecutive clips of random lengths in [min_seconds, MAX_SECONDS]
    (seeded), each re-canonicalised. Frames are never resampled."""
    rng = np.random.default_rng(seed)
    out = []
    for take in takes:
        frames = len(take.rotations)
        longest = int(MAX_SECONDS * take.fps) + 1
        if frames <= longest:
            out.append(take)
            continue
        start, part = 0, 0
        while frames - start >= int(min_seconds * take.fps):
            length = min(int(rng.uniform(min_seconds, MAX_SECONDS) * take.fps) + 1,
                         frames - start)
            rot, trans = canonical(take.rotations[start:start + length],
                                   take.root_translation[start:start + length])
            out.append(Take(f"{take.id}#{part}", take.source, take.content, take.style,
                            take.fps, rot, trans, take.split))
            start += length
            part += 1
    return out


def split(takes: list[Take], name: str) -> list[Take]:
    if name not in SPLITS:
        raise ValueError(f"unknown split {name!r}; one of {SPLITS}")
    return [t for t in takes if t.split == name]


def vocabulary(takes: list[Take]) -> tuple[list[str], list[str]]:
    """(contents, styles): the sorted label names, the classifiers' classes."""
    return sorted({t.content for t in takes}), sorted({t.style for t in takes})
