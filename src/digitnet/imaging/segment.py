"""Digits in an image: connected components of the ink -> one box per digit, left to right.

1. Specks are dropped: components much smaller than the largest, tiny in pixels, or faint
   (background texture that crossed the ink threshold has no saturated stroke core).
2. Pieces of one broken digit are joined: components whose column ranges overlap by most of
   the narrower one's width (a 4 written in two strokes, a 7 broken at its corner) form one
   group. Digits of a number sit side by side, so their column ranges barely overlap.
   A group less than half as tall as the digits (a 5's detached top bar) is a fragment:
   fragments stacked in shared columns join first (bar and body of that 5) and stand alone
   when together they have a digit's height and ink; the others join the nearest digit when
   close to it.
3. Touching digits are split: a group wide for its height may hold several digits. It
   becomes a :class:`Slot` with alternative readings: the group whole, or cut along some of
   the cheapest top-to-bottom paths through it (:func:`candidate_cuts`), or in two along a
   straight upright or slanted line (:func:`line_cuts`: overlapping digits have no cheap
   seam, and the cheapest path hands a stroke of one to the other), each with a prior
   from its shape (:func:`reading_prior`). The recogniser picks the reading that is most
   plausible given what it reads (:func:`digitnet.reading.recognise.choose_readings`);
   ``options[0]`` is the best guess from the shapes alone.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from digitnet.imaging.components import Components

#: components smaller than this fraction of the largest one's area are specks
SPECK_FRACTION = 0.03
#: ... and so is anything that fits in a square of this side (pixels of the working image)
MIN_SIDE = 6
#: ... and components whose mean soft ink is below this (strokes have saturated cores)
MIN_MEAN_INK = 0.6
#: specks within this fraction of a digit's height around its box are part of it
SPECK_REACH = 0.15
#: at most this many components are considered (the largest ones)
MAX_COMPONENTS = 200
#: two groups are one digit when their column ranges overlap by this fraction of the narrower
OVERLAP = 0.5
#: a group less tall than this fraction of the digits' height is a fragment of a digit...
FRAGMENT = 0.5
#: ... and so is a group with less ink than this fraction of the median group's ...
FRAGMENT_AREA = 0.2
#: ... and joins the nearest digit if within this fraction of the digits' height
FRAGMENT_REACH = 0.5
#: groups wider than this times the digits' height may hold several touching digits (a
#: narrow "91" is 0.9 wide; the segment checker rejects the cuts of a wide single digit)
MAY_SPLIT = 0.7
#: neighbouring groups at most this far apart (times the digits' height) and together at
#: most MERGE_WIDE wide may be pieces of one digit (a faint pen breaks strokes) ...
MERGE_GAP = 0.25
MERGE_WIDE = 1.2
#: ... in runs of at most this many groups; each join costs MERGE_PENALTY (log-prior)
MAX_RUN = 4
MERGE_PENALTY = 1.0
#: log-prior cost of reading two pieces one above the other as neighbouring digits
STACK_PENALTY = 4.0
#: a piece cut from touching digits is at least this fraction of the height wide
MIN_PIECE = 0.2
#: the usual width of a digit, as a fraction of its height (MNIST's median is 0.8)
DIGIT_ASPECT = 0.8
#: at most this many candidate cuts per group (all their subsets are readings)
MAX_CUTS = 5
#: straight cuts (:func:`line_cuts`): column shift per row (0: upright), spacing as a
#: fraction of the digits' height, for groups LINE_MIN_WIDTH to LINE_MAX_WIDTH heights wide
LINE_SLOPES: tuple[float, ...] = (-0.25, 0.0, 0.25)
LINE_STEP = 0.08
LINE_MIN_WIDTH = 0.9
LINE_MAX_WIDTH = 2.2
#: cost of a cut path stepping sideways by one column (a pixel of ink costs 1)
STEP_COST = 0.1
#: log-prior of a reading: per cut, minus this times the strokes it crosses ...
CUT_PENALTY = 0.5
#: ... per piece of width/height a > WIDE, minus ((a - WIDE) / WIDE_SCALE)^2 / 2: in a
#: photographed number, 95% of single digits are less than 1.05 times the digits' height
#: wide, 99% less than 1.13, while two touching digits are mostly wider than 1.1 ...
WIDE = 1.0
WIDE_SCALE = 0.15
#: ... and when the image holds a single group of ink (its own height is the reference,
#: and MNIST digits are up to 1.43 times as wide as tall for 99% of them, 1.67 for 99.9%),
#: WIDE and WIDE_SCALE are LONE_WIDE and LONE_SCALE, and each extra piece costs
#: LONE_PENALTY: one blob alone is one digit unless it is far too wide for one
LONE_WIDE = 1.5
LONE_SCALE = 0.25
LONE_PENALTY = 5.0
#: a piece less tall than FRAGMENT x the digits' height is not a digit (the tail of one cut
#: off by a cut): minus this
SHORT_PENALTY = 4.0


@dataclass(frozen=True)
class Cut:
    """A path separating touching digits, top to bottom: for each row from ``top``, the
    first column of the right-hand piece. ``strokes`` is the ink it crosses, in stroke
    widths."""

    top: int
    cols: tuple[int, ...]
    strokes: float = 0.0

    def at(self, rows: np.ndarray) -> np.ndarray:
        """The cut's column at each row (rows beyond its ends take its end columns)."""
        return np.asarray(self.cols)[np.clip(rows - self.top, 0, len(self.cols) - 1)]


@dataclass(frozen=True)
class Segment:
    """One digit: the components it is made of, and its box in the image.

    ``top``/``left`` are inclusive, ``bottom``/``right`` exclusive. A piece cut from touching
    digits owns only the pixels of its components right of ``left_cut`` and left of
    ``right_cut``.
    """

    labels: tuple[int, ...]
    top: int
    left: int
    bottom: int
    right: int
    left_cut: Cut | None = None
    right_cut: Cut | None = None

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def width(self) -> int:
        return self.right - self.left

    def mask(self, comps: Components) -> np.ndarray:
        """``(height, width)`` bool: this digit's pixels within its box."""
        crop = comps.labels[self.top : self.bottom, self.left : self.right]
        return np.isin(crop, self.labels) & self.between_cuts(
            self.top, self.bottom, self.left, self.right
        )

    def between_cuts(self, top: int, bottom: int, left: int, right: int) -> np.ndarray:
        """``(bottom - top, right - left)`` bool: the pixels of that region on this digit's
        side of its cuts (all of them for a digit that was not cut)."""
        rows = np.arange(top, bottom)
        cols = np.arange(left, right)[None, :]
        ok = np.ones((len(rows), cols.shape[1]), dtype=bool)
        if self.left_cut is not None:
            ok &= cols >= self.left_cut.at(rows)[:, None]
        if self.right_cut is not None:
            ok &= cols < self.right_cut.at(rows)[:, None]
        return ok


@dataclass(frozen=True)
class Slot:
    """A place in the reading order holding one digit or several touching ones.

    ``options`` are the alternative readings, each a tuple of segments left to right, and
    ``priors`` their log-plausibility from the shapes alone (:func:`split_options`);
    ``options[0]`` is the most plausible.
    """

    options: tuple[tuple[Segment, ...], ...]
    priors: tuple[float, ...] = (0.0,)

    @property
    def left(self) -> int:
        return self.options[0][0].left


def segment(
    comps: Components, ink: np.ndarray | None = None, *, single: bool = False, lines: bool = True
) -> list[Slot]:
    """The digits of an image, left to right (empty when there is no ink but specks).

    Parameters
    ----------
    comps : Components
        Connected components of the confident ink.
    ink : np.ndarray, optional
        ``(H, W)`` soft ink in [0, 1], to drop faint components.
    single : bool
        Return all the (non-speck) ink as one digit.
    lines : bool
        Offer straight cuts (:func:`line_cuts`) besides the cheapest paths.
    """
    keep = significant(comps, ink)
    if not len(keep):
        return []
    groups = [_box(comps, [k]) for k in keep]
    if single:
        return [Slot(((_merge(groups),),))]
    groups = join_overlapping(groups)
    height = reference_height(groups)
    groups = join_fragments(comps, groups, height)
    groups = sorted(attach_specks(comps, ink, groups, keep), key=lambda g: g.left)
    runs = mergeable_runs(groups, height)
    lone = len(runs) == 1
    return [
        Slot(*split_options(comps, run[0], height, lone=lone, lines=lines))
        if len(run) == 1
        else Slot(*merge_options(run, height, lone=lone))
        for run in runs
    ]


def significant(comps: Components, ink: np.ndarray | None = None) -> np.ndarray:
    """Labels of the components that are not specks, largest first (at most
    :data:`MAX_COMPONENTS`).

    A speck is smaller than :data:`SPECK_FRACTION` of the largest component or fits in a
    :data:`MIN_SIDE` square. Given the soft ink, a faint component (mean ink below
    :data:`MIN_MEAN_INK`: background texture that crossed the threshold has no saturated
    core) is kept only next to a strong one (within the strong one's height): thin, faint
    pieces of a digit are near the rest of the writing, texture blotches are not.
    """
    if comps.count == 0:
        return np.zeros(0, dtype=np.int64)
    side = np.maximum(comps.bottom - comps.top, comps.right - comps.left)
    ok = (comps.area >= SPECK_FRACTION * comps.area.max()) & (side >= MIN_SIDE)
    if ink is not None:
        lab = comps.labels.ravel()
        on = lab > 0
        total = np.bincount(lab[on] - 1, weights=ink.ravel()[on], minlength=comps.count)
        strong = ok & (total >= MIN_MEAN_INK * comps.area)
        if strong.any():
            faint = np.flatnonzero(ok & ~strong)
            ok = strong.copy()
            ok[faint] = _near(comps, faint, np.flatnonzero(strong))
    labels = np.flatnonzero(ok) + 1
    order = np.argsort(-comps.area[labels - 1], kind="stable")
    return labels[order][:MAX_COMPONENTS]


def _near(comps: Components, f: np.ndarray, s: np.ndarray) -> np.ndarray:
    """``(F,)`` bool: whether each component of index ``f`` has its box within one height
    of the box of some component of index ``s`` (that component's height)."""
    dy = np.maximum(
        0,
        np.maximum(comps.top[f, None], comps.top[s])
        - np.minimum(comps.bottom[f, None], comps.bottom[s]),
    )  # (F, S)
    dx = np.maximum(
        0,
        np.maximum(comps.left[f, None], comps.left[s])
        - np.minimum(comps.right[f, None], comps.right[s]),
    )
    reach = (comps.bottom[s] - comps.top[s])[None, :]
    return (np.hypot(dx, dy) <= reach).any(axis=1)


def attach_specks(
    comps: Components, ink: np.ndarray | None, groups: list[Segment], keep: np.ndarray
) -> list[Segment]:
    """Give each group the specks inside its box, widened by :data:`SPECK_REACH` of its
    height (by their centre): the dashes of a stroke that a faint pen broke into dots belong
    to that digit, not to the background. Specks near no digit, or near two, stay out. Only
    strong specks (mean ink at least :data:`MIN_MEAN_INK`) of 2 pixels or more count."""
    specks = np.setdiff1d(np.arange(1, comps.count + 1), keep)
    specks = specks[comps.area[specks - 1] >= 2]
    if ink is not None and len(specks):
        lab = comps.labels.ravel()
        on = lab > 0
        total = np.bincount(lab[on] - 1, weights=ink.ravel()[on], minlength=comps.count)
        specks = specks[total[specks - 1] >= MIN_MEAN_INK * comps.area[specks - 1]]
    if not len(specks) or not groups:
        return groups
    cy = (comps.top[specks - 1] + comps.bottom[specks - 1]) / 2  # (S,)
    cx = (comps.left[specks - 1] + comps.right[specks - 1]) / 2
    reach = np.array([SPECK_REACH * g.height for g in groups])
    box = np.array([(g.top, g.left, g.bottom, g.right) for g in groups]) + np.outer(
        reach, [-1, -1, 1, 1]
    )  # (G, 4)
    inside = (
        (cy[:, None] >= box[:, 0])
        & (cy[:, None] < box[:, 2])
        & (cx[:, None] >= box[:, 1])
        & (cx[:, None] < box[:, 3])
    )  # (S, G)
    out = []
    for j, g in enumerate(groups):
        mine = specks[inside[:, j] & (inside.sum(axis=1) == 1)]
        out.append(_merge([g, _box(comps, list(mine))]) if len(mine) else g)
    return out


def join_overlapping(groups: list[Segment]) -> list[Segment]:
    """Merge groups whose column ranges overlap by :data:`OVERLAP` of the narrower one's
    width, sweeping left to right until no two do (a merged group is wider and may then
    overlap another)."""
    groups = sorted(groups, key=lambda g: g.left)
    changed = True
    while changed:
        changed = False
        merged: list[Segment] = []
        for g in groups:
            for i in range(len(merged) - 1, -1, -1):
                m = merged[i]
                overlap = min(m.right, g.right) - max(m.left, g.left)
                if overlap >= OVERLAP * min(m.width, g.width):
                    merged[i] = _merge([m, g])
                    changed = True
                    break
            else:
                merged.append(g)
        groups = sorted(merged, key=lambda g: g.left)
    return groups


def join_fragments(comps: Components, groups: list[Segment], height: float) -> list[Segment]:
    """Attach each fragment to the nearest digit whose box is within :data:`FRAGMENT_REACH`
    x ``height`` (fragments with no digit near stay on their own).

    A fragment is shorter than :data:`FRAGMENT` x ``height`` or has less ink than
    :data:`FRAGMENT_AREA` times the median group (dots of a broken stroke, stacked).
    """

    def ink(g: Segment) -> int:
        return int(comps.area[np.asarray(g.labels) - 1].sum())

    least = FRAGMENT_AREA * np.median([ink(g) for g in groups])
    small = [g.height < FRAGMENT * height or ink(g) < least for g in groups]
    stacks = stack_fragments([g for g, s in zip(groups, small, strict=True) if s], height)
    groups = [g for g, s in zip(groups, small, strict=True) if not s] + stacks
    small = [False] * (len(groups) - len(stacks)) + [
        g.height < FRAGMENT * height or ink(g) < least for g in stacks
    ]
    tall = [g for g, s in zip(groups, small, strict=True) if not s]
    if not tall:
        return groups
    members: list[list[Segment]] = [[g] for g in tall]
    alone = []
    for g in (g for g, s in zip(groups, small, strict=True) if s):
        gaps = [_gap(g, t) for t in tall]
        best = int(np.argmin(gaps))
        if gaps[best] <= FRAGMENT_REACH * height:
            members[best].append(g)
        else:
            alone.append(g)
    return [_merge(m) for m in members] + alone


def stack_fragments(fragments: list[Segment], height: float) -> list[Segment]:
    """Join fragments that sit one above the other in shared columns: the pieces of one
    digit broken across its height (a 5's detached top bar over its body), which together
    may be as tall as a digit. Fragments join when their column ranges overlap and they
    are at most :data:`MERGE_GAP` x ``height`` apart, and the joined box is not wider than
    :data:`MERGE_WIDE` x ``height``."""
    out: list[Segment] = []
    for f in sorted(fragments, key=lambda g: g.left):
        for i, g in enumerate(out):
            shared = min(f.right, g.right) - max(f.left, g.left)
            wide = max(f.right, g.right) - min(f.left, g.left)
            if shared > 0 and _gap(f, g) <= MERGE_GAP * height and wide <= MERGE_WIDE * height:
                out[i] = _merge([g, f])
                break
        else:
            out.append(f)
    return out


def mergeable_runs(groups: list[Segment], height: float) -> list[list[Segment]]:
    """Split groups (sorted left to right) into runs of neighbours that may be pieces of
    one digit broken by a faint pen: each narrow enough to be read whole (not wider than
    :data:`MAY_SPLIT` x ``height``), at most :data:`MERGE_GAP` x ``height`` apart, and
    together no wider than :data:`MERGE_WIDE` x ``height``. A few groups that are all
    close together and together no wider than :data:`LONE_WIDE` x ``height`` (which one
    digit can be) are one run: the image may hold a single broken digit."""
    if (
        1 < len(groups) <= MAX_RUN
        and _span(groups) <= LONE_WIDE * height
        and max(g.left for g in groups) - min(g.right for g in groups) <= MERGE_GAP * height
    ):
        return [groups]  # maybe one broken digit alone, as wide as one can be
    runs: list[list[Segment]] = []
    for g in groups:
        if runs and len(runs[-1]) < MAX_RUN and _joinable(runs[-1][-1], g, height):
            runs[-1].append(g)
        else:
            runs.append([g])
    return runs


def _joinable(a: Segment, b: Segment, height: float) -> bool:
    narrow = max(a.width, b.width) <= MAY_SPLIT * height
    close = b.left - a.right <= MERGE_GAP * height
    return narrow and close and max(a.right, b.right) - a.left <= MERGE_WIDE * height


def _stacked(a: Segment, b: Segment) -> bool:
    """Whether two boxes share less than half the rows of the shorter one."""
    return min(a.bottom, b.bottom) - max(a.top, b.top) < 0.5 * min(a.height, b.height)


def _span(groups: list[Segment]) -> int:
    return max(g.right for g in groups) - min(g.left for g in groups)


def merge_options(
    run: list[Segment], height: float, *, lone: bool = False
) -> tuple[tuple[tuple[Segment, ...], ...], tuple[float, ...]]:
    """The readings of a run of neighbouring groups, most plausible first: every way to
    join consecutive groups into digits no wider than :data:`MERGE_WIDE` x ``height``
    (:data:`LONE_WIDE` for a ``lone`` run, all the ink of the image).

    Each join costs :data:`MERGE_PENALTY`; the digits are judged by their shape
    (:func:`shape_prior`), and two neighbouring digits one above the other (sharing less
    than half the rows of the shorter) cost :data:`STACK_PENALTY`: the digits of a number
    sit on a line, the halves of a broken stroke need not. Unlike a lone blob, separate
    groups are not presumed to be one digit: a number written closely ("10") is as likely
    as a broken digit.
    """
    readings = []
    for joins in itertools.product((False, True), repeat=len(run) - 1):
        blocks: list[list[Segment]] = [[run[0]]]
        for g, join in zip(run[1:], joins, strict=True):
            if join:
                blocks[-1].append(g)
            else:
                blocks.append([g])
        pieces = tuple(_merge(b) for b in blocks)
        widest = LONE_WIDE if lone else MERGE_WIDE
        if any(
            len(b) > 1 and p.width > widest * height for p, b in zip(pieces, blocks, strict=True)
        ):
            continue
        stacked = sum(_stacked(a, b) for a, b in zip(pieces, pieces[1:], strict=False))
        prior = (
            shape_prior(pieces, height, lone=lone)
            - MERGE_PENALTY * sum(joins)
            - STACK_PENALTY * stacked
        )
        readings.append((prior, pieces))
    readings.sort(key=lambda r: -r[0])
    return tuple(r[1] for r in readings), tuple(r[0] for r in readings)


def reference_height(groups: list[Segment]) -> float:
    """The digits' height: the median height of the groups at least half as tall as the
    tallest (small pieces and punctuation do not count)."""
    heights = np.array([g.height for g in groups], dtype=float)
    return float(np.median(heights[heights >= 0.5 * heights.max()]))


def split_options(
    comps: Components, group: Segment, height: float, *, lone: bool = False, lines: bool = True
) -> tuple[tuple[tuple[Segment, ...], ...], tuple[float, ...]]:
    """The readings of a group and their log-priors, most plausible first.

    A group up to :data:`MAY_SPLIT` x ``height`` wide is one digit. A wider one gets up to
    :data:`MAX_CUTS` candidate cuts (:func:`candidate_cuts`), and every subset of them is a
    reading whose pieces are at least :data:`MIN_PIECE` x ``height`` wide; a group
    :data:`LINE_MIN_WIDTH` to :data:`LINE_MAX_WIDTH` heights wide also gets the two-piece
    readings of straight cuts (:func:`line_cuts`, unless ``lines`` is False). Its log-prior
    penalises each cut by the strokes it crosses, pieces wider than digits usually are,
    pieces much shorter than the digits, and splitting the only group of an image
    (``lone``; see the constants).
    """
    if group.width <= MAY_SPLIT * height:
        return ((group,),), (0.0,)
    mask = group.mask(comps)
    cuts = candidate_cuts(mask, height, stroke_width(mask))
    cuts = [
        Cut(group.top, tuple(int(c) + group.left for c in cut.cols), cut.strokes) for cut in cuts
    ]
    readings = []
    for n in range(len(cuts) + 1):
        for chosen in itertools.combinations(cuts, n):
            pieces = cut_group(comps, group, list(chosen))
            if len(pieces) == n + 1 and all(p.width >= MIN_PIECE * height for p in pieces):
                readings.append((reading_prior(pieces, chosen, height, lone=lone), pieces))
    if lines and LINE_MIN_WIDTH * height < group.width <= LINE_MAX_WIDTH * height:
        for cut in line_cuts(mask, height, stroke_width(mask)):
            cut = Cut(group.top, tuple(int(c) + group.left for c in cut.cols), cut.strokes)
            pieces = cut_group(comps, group, [cut])
            if len(pieces) == 2 and all(p.width >= MIN_PIECE * height for p in pieces):
                readings.append((reading_prior(pieces, (cut,), height, lone=lone), pieces))
    readings.sort(key=lambda r: -r[0])
    return tuple(r[1] for r in readings), tuple(r[0] for r in readings)


def reading_prior(
    pieces: tuple[Segment, ...], cuts: tuple[Cut, ...], height: float, *, lone: bool = False
) -> float:
    """Log-plausibility of reading a group as ``pieces`` cut along ``cuts``: the pieces'
    :func:`shape_prior`, minus :data:`CUT_PENALTY` per stroke crossed, minus
    :data:`LONE_PENALTY` per extra piece of a ``lone`` group."""
    return (
        shape_prior(pieces, height, lone=lone)
        - CUT_PENALTY * sum(c.strokes for c in cuts)
        - lone * LONE_PENALTY * (len(pieces) - 1)
    )


def shape_prior(pieces: tuple[Segment, ...], height: float, *, lone: bool = False) -> float:
    """Log-plausibility of ``pieces`` as digits from their shape: minus
    ``((width / height - WIDE) / WIDE_SCALE)^2 / 2`` for each piece wider than
    :data:`WIDE` x ``height`` (:data:`LONE_WIDE`, :data:`LONE_SCALE` for a ``lone``
    digit, measured against its own height), and :data:`SHORT_PENALTY` for each piece less
    tall than :data:`FRAGMENT` x ``height``."""
    limit, scale = (LONE_WIDE, LONE_SCALE) if lone else (WIDE, WIDE_SCALE)
    wide = sum(max(0.0, p.width / height - limit) ** 2 for p in pieces) / (2 * scale**2)
    short = sum(p.height < FRAGMENT * height for p in pieces)
    return -(wide + SHORT_PENALTY * short)


def stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width of a binary shape, ``2 * area / perimeter`` (exact for a long
    rectangle: area L*w, perimeter ~2L). ``(h, w)`` bool -> pixels."""
    m = np.pad(mask, 1)
    perimeter = np.count_nonzero(m[1:] != m[:-1]) + np.count_nonzero(m[:, 1:] != m[:, :-1])
    return 2.0 * np.count_nonzero(mask) / max(perimeter, 1)


def candidate_cuts(mask: np.ndarray, height: float, stroke: float) -> list[Cut]:
    """Where touching digits may be separated: the cheapest top-to-bottom paths.

    A path steps down one row at a time, moving at most one column sideways, and stays at
    least :data:`MIN_PIECE` x ``height`` from the group's edges (else it would slip around a
    digit instead of between two); it costs 1 per ink pixel crossed plus :data:`STEP_COST`
    per sideways step (so it follows a slanted gap between slanted digits). The cheapest
    path ending at each column is found for all columns at once (dynamic programming over
    rows, as in seam carving); the ends that are local minima, at least that far from each
    other, are the candidates (the :data:`MAX_CUTS` cheapest, left to right; paths that
    cross a cheaper one are dropped). Ties go to the ends nearest to where digits of the
    usual width would meet.

    mask : (h, w) bool, one group's ink. Returns cuts with columns relative to the mask.
    """
    h, w = mask.shape
    gap = max(1, int(np.ceil(MIN_PIECE * height)))
    if w < 2 * gap:
        return []
    ink = mask.astype(np.float64)
    cost = ink.copy()
    cost[:, :gap] = cost[:, w - gap + 1 :] = np.inf  # the margins are out of bounds
    total = cost[0].copy()
    moves = np.zeros((h, w), dtype=np.int8)  # -1, 0, +1: where we came from
    inf = np.full(1, np.inf)
    for r in range(1, h):
        left = np.r_[inf, total[:-1]] + STEP_COST  # came from column c - 1
        right = np.r_[total[1:], inf] + STEP_COST  # came from column c + 1
        options = np.stack([left, total, right])  # (3, w)
        best = options.argmin(axis=0)
        moves[r] = best - 1
        total = options[best, np.arange(w)] + cost[r]
    # among equally cheap ends, prefer those near where evenly spaced digits would meet
    k = max(2, round(w / (DIGIT_ASPECT * height)))
    even = np.arange(1, k) * w / k
    near = np.abs(np.arange(w)[:, None] - even[None, :]).min(axis=1)  # (w,)
    ends = [e for e in _cheapest_ends(total + 0.01 * near, gap) if np.isfinite(total[e])]
    paths = [_backtrack(moves, e) for e in ends[:MAX_CUTS]]
    return _non_crossing(paths, ink, stroke)


def line_cuts(mask: np.ndarray, height: float, stroke: float) -> list[Cut]:
    """Straight cuts through a group, upright and slanted (:data:`LINE_SLOPES`), every
    :data:`LINE_STEP` x ``height`` columns, at least :data:`MIN_PIECE` x ``height`` from
    the edges at mid-height. Overlapping digits often have no cheap seam between them (the
    cheapest path slips through one of them and steals its stroke); a straight line leaves
    the strokes on either side where they are, and the recogniser judges the pieces."""
    h, w = mask.shape
    gap = max(1, int(np.ceil(MIN_PIECE * height)))
    step = max(1, int(round(LINE_STEP * height)))
    rows = np.arange(h)
    ink = mask.astype(np.float64)
    cuts = []
    for slope in LINE_SLOPES:
        for mid in range(gap, w - gap + 1, step):
            cols = np.clip(np.round(mid + slope * (rows - (h - 1) / 2)).astype(np.int64), 0, w)
            crossed = float(ink[rows, np.minimum(cols, w - 1)].sum())
            cuts.append(Cut(0, tuple(int(c) for c in cols), crossed / max(stroke, 1.0)))
    return cuts


def _cheapest_ends(total: np.ndarray, gap: int) -> list[int]:
    """Columns in ``[gap, w - gap]`` where ``total`` is a local minimum, cheapest first, at
    least ``gap`` apart (non-maximum suppression)."""
    w = len(total)
    padded = np.r_[np.inf, total, np.inf]
    local = (total <= padded[:-2]) & (total <= padded[2:])
    cols = np.flatnonzero(local)
    cols = cols[(cols >= gap) & (cols <= w - gap)]
    chosen: list[int] = []
    for c in cols[np.argsort(total[cols], kind="stable")]:
        if all(abs(int(c) - k) >= gap for k in chosen):
            chosen.append(int(c))
    return chosen


def _backtrack(moves: np.ndarray, end: int) -> np.ndarray:
    """The path ``(h,)`` of columns ending at column ``end`` of the last row."""
    h = moves.shape[0]
    path = np.empty(h, dtype=np.int64)
    path[-1] = end
    for r in range(h - 1, 0, -1):
        path[r - 1] = path[r] + moves[r, path[r]]
    return path


def _non_crossing(paths: list[np.ndarray], ink: np.ndarray, stroke: float) -> list[Cut]:
    """Keep paths (cheapest first) that stay strictly on one side of every kept path;
    sorted left to right, with the ink they cross in stroke widths."""
    kept: list[np.ndarray] = []
    for path in paths:
        if all((path < k).all() or (path > k).all() for k in kept):
            kept.append(path)
    kept.sort(key=lambda p: p.mean())
    rows = np.arange(ink.shape[0])
    return [
        Cut(0, tuple(int(c) for c in p), float(ink[rows, p].sum()) / max(stroke, 1.0)) for p in kept
    ]


def cut_group(comps: Components, group: Segment, cuts: list[Cut]) -> tuple[Segment, ...]:
    """The pieces of ``group`` between consecutive cuts (left to right), boxes tightened to
    their ink; empty pieces are left out."""
    bounds = [None, *cuts, None]
    pieces = []
    for left_cut, right_cut in zip(bounds[:-1], bounds[1:], strict=True):
        piece = _piece(comps, group, left_cut, right_cut)
        if piece is not None:
            pieces.append(piece)
    return tuple(pieces)


def _piece(
    comps: Components, group: Segment, left_cut: Cut | None, right_cut: Cut | None
) -> Segment | None:
    """The part of ``group`` between two cuts, with its box tightened to its ink."""
    loose = Segment(
        group.labels, group.top, group.left, group.bottom, group.right, left_cut, right_cut
    )
    crop = loose.mask(comps)
    rows = np.flatnonzero(crop.any(axis=1))
    cols = np.flatnonzero(crop.any(axis=0))
    if not len(rows):
        return None
    return Segment(
        group.labels,
        group.top + int(rows[0]),
        group.left + int(cols[0]),
        group.top + int(rows[-1]) + 1,
        group.left + int(cols[-1]) + 1,
        left_cut,
        right_cut,
    )


def _gap(a: Segment, b: Segment) -> float:
    """Distance between two boxes (0 when they overlap)."""
    dy = max(0, max(a.top, b.top) - min(a.bottom, b.bottom))
    dx = max(0, max(a.left, b.left) - min(a.right, b.right))
    return float(np.hypot(dx, dy))


def _box(comps: Components, labels: list[int]) -> Segment:
    idx = np.asarray(labels) - 1
    return Segment(
        tuple(int(k) for k in labels),
        int(comps.top[idx].min()),
        int(comps.left[idx].min()),
        int(comps.bottom[idx].max()),
        int(comps.right[idx].max()),
    )


def _merge(groups: list[Segment]) -> Segment:
    return Segment(
        tuple(sorted({k for g in groups for k in g.labels})),
        min(g.top for g in groups),
        min(g.left for g in groups),
        max(g.bottom for g in groups),
        max(g.right for g in groups),
    )
