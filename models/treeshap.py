"""Exact path-dependent TreeSHAP of a LightGBM booster, by tables of each leaf's contributions.

LightGBM's ``pred_contrib`` (and ``shap.TreeExplainer``, which calls it) walks every path of every tree for every
row and keeps a running polynomial along the way: time trees x leaves x depth^2 per row. But what a leaf adds to a
feature's SHAP value depends on the row only through which of the conditions on that leaf's path the row meets
(Lundberg et al. 2020; the idea of "FastTreeSHAP v2", Yang 2021): with the path's distinct features U (k of them),
the share ``z_j`` of the training rows that followed the path at feature j's splits (their product where j splits
twice) and ``o_j`` = 1 when the row meets every condition on j, leaf value v adds to feature i

    v (o_i - z_i) sum over S in U \\ {i} with o_j = 1 for j in S of  |S|! (k - 1 - |S|)! / k!  x  prod_{j not in S, i} z_j.

That is a table of 2^k x k numbers per leaf, worked out once per model (:meth:`TreeTables.of_booster`). A row's
contributions are then its decision at every split (one comparison each), the bit pattern of conditions met on each
leaf's path, and a look-up per (leaf, feature of its path), summed per feature: time trees x leaves x depth, in
array operations over a block of rows at a time, on every core.

The values are LightGBM's own, up to the order floating-point sums are taken in (``tests/model/test_treeshap.py``
holds them to ``pred_contrib`` on models with missing values, zeros as missing, categorical splits, features split
twice on a path and single-leaf trees). Models it does not cover (linear trees, several trees per round, a path with
more than :data:`MAX_PATH_FEATURES` distinct features) are explained by ``pred_contrib``: :meth:`TreeTables.of_booster`
returns None for them.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import math

import numpy as np
import scipy.sparse

# a leaf's table holds 2^k x k numbers for its path's k distinct features: at 12, 48K numbers a leaf
MAX_PATH_FEATURES = 12
# the tables of every leaf together, at most (numbers); beyond it pred_contrib explains the model
MAX_TABLE_SIZE = 16_000_000
# trees are explained in groups of about this many (leaf, feature) pairs, rows in blocks of _BLOCK_ROWS: each step's
# array (pairs x rows) then stays in the processor's cache (docs/benchmarks.md, "TreeSHAP by tables")
_CHUNK_PAIRS = 4096
_BLOCK_ROWS = 256
# LightGBM's kZeroThreshold, the float 1e-35f: a value this close to 0 is a zero (missing where zeros are missing)
_ZERO = float(np.float32(1e-35))


@dataclasses.dataclass(frozen=True)
class _Tree:
    split_feature: np.ndarray
    threshold: np.ndarray
    decision_type: np.ndarray
    left: np.ndarray
    right: np.ndarray
    leaf_value: np.ndarray
    leaf_count: np.ndarray
    internal_count: np.ndarray
    cat_boundaries: np.ndarray
    cat_threshold: np.ndarray
    linear: bool  # leaves with linear models (LightGBM's linear_tree): not what the tables cover


@dataclasses.dataclass(frozen=True)
class _Leaf:
    """A leaf's value and its path's distinct features, in order of first split: for each, the share of training
    rows that followed the path at its splits (their product, the feature's z) and its conditions (split, goes
    left)."""

    value: float
    features: tuple[int, ...]
    shares: tuple[float, ...]
    conditions: tuple[tuple[tuple[int, bool], ...], ...]


def parse_trees(text: str) -> tuple[list[_Tree], dict]:
    """The trees of a LightGBM model's text format (``Booster.model_to_string``) and its header."""
    header: dict[str, str] = {}
    blocks: list[dict[str, str]] = []
    for line in text.splitlines():
        if line.startswith("end of trees"):
            break
        if line.startswith("Tree="):
            blocks.append({})
            continue
        key, sep, value = line.partition("=")
        if sep:
            (blocks[-1] if blocks else header)[key] = value

    def ints(block: dict[str, str], key: str) -> np.ndarray:
        return np.array(block.get(key, "").split(), dtype=np.int64)

    def floats(block: dict[str, str], key: str) -> np.ndarray:
        return np.array(block.get(key, "").split(), dtype=np.float64)

    trees = [_Tree(split_feature=ints(b, "split_feature"), threshold=floats(b, "threshold"),
                   decision_type=ints(b, "decision_type"), left=ints(b, "left_child"), right=ints(b, "right_child"),
                   leaf_value=floats(b, "leaf_value"), leaf_count=floats(b, "leaf_count"),
                   internal_count=floats(b, "internal_count"), cat_boundaries=ints(b, "cat_boundaries"),
                   cat_threshold=ints(b, "cat_threshold"), linear=b.get("is_linear", "0") != "0")
             for b in blocks]
    return trees, header


def _leaf_tables(z: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Contributions of leaves with k distinct path features each: ``z`` (leaves x k) the shares of training rows
    that followed the path, ``v`` the leaf values. Returns (leaves x 2^k x k): entry [l, p, i] is what leaf l adds to
    its i-th feature for a row whose met conditions are the bits of p."""
    m, k = z.shape
    patterns = np.arange(2**k)
    met = ((patterns[:, None] >> np.arange(k)[None, :]) & 1).astype(np.float64)  # (2^k x k)
    weights = np.array([math.factorial(s) * math.factorial(k - 1 - s) / math.factorial(k) for s in range(k)])
    out = np.empty((m, 2**k, k))
    for i in range(k):
        # coefficient s: sum over the subsets S of size s of the other features, of prod z outside S (o inside)
        coef = np.zeros((m, 2**k, k))
        coef[:, :, 0] = 1.0
        for j in range(k):
            if j == i:
                continue
            shifted = np.zeros_like(coef)
            shifted[:, :, 1:] = coef[:, :, :-1]
            coef = coef * z[:, j, None, None] + shifted * met[None, :, j, None]
        total = coef @ weights  # (m x 2^k)
        out[:, :, i] = v[:, None] * (met[None, :, i] - z[:, i, None]) * total
    return out


@dataclasses.dataclass(frozen=True)
class _Chunk:
    """The splits, leaf paths and contribution tables of a group of trees, flattened (see the module's text)."""

    # splits (internal nodes of the trees): numerical ones, then categorical ones
    num_feature: np.ndarray
    num_threshold: np.ndarray
    num_default_left: np.ndarray
    num_zero_missing: np.ndarray
    num_nan_missing: np.ndarray
    cat_feature: np.ndarray
    cat_left: np.ndarray  # categorical splits x codes: True where the code goes left (LightGBM's bitset)
    # conditions: a split and the way the path goes there, for each (leaf, feature) pair of every path. Pairs are
    # ordered bit by bit: bit b of a leaf's pattern for the first with_bit[b] leaves (leaves by path features, most
    # first), so a pattern is made of slices
    cond_split: np.ndarray
    cond_left: np.ndarray
    ranks: tuple  # per r: (the r-th conditions of pairs, their pairs); a pair's feature may split more than once
    with_bit: tuple
    leaf_k: np.ndarray  # distinct features of each leaf's path: its table's row length
    leaf_base: np.ndarray  # where each leaf's table starts
    # the pairs leaf by leaf (a leaf's row of its table is k numbers side by side), and their sum per feature
    leaf_bit: np.ndarray
    to_features: scipy.sparse.csr_matrix  # features x pairs: 1 where the pair is the feature's
    table: np.ndarray

    @classmethod
    def of_leaves(cls, trees: list[_Tree], splits: list[tuple], leaves: list[_Leaf], n_features: int) -> _Chunk:
        kinds = np.array([trees[t].decision_type[n] for t, n in splits], dtype=np.int64)
        categorical = (kinds & 1).astype(bool)
        order = np.concatenate([np.flatnonzero(~categorical), np.flatnonzero(categorical)])
        position = np.empty(len(splits), dtype=np.int64)
        position[order] = np.arange(len(splits))
        feat = np.array([trees[t].split_feature[n] for t, n in splits], dtype=np.int64)
        thr = np.array([trees[t].threshold[n] for t, n in splits], dtype=np.float64)
        numerical = np.flatnonzero(~categorical)
        missing = (kinds >> 2) & 3
        bitsets = []
        for s in np.flatnonzero(categorical):
            tree = trees[splits[s][0]]
            at = int(thr[s])
            words = tree.cat_threshold[tree.cat_boundaries[at]:tree.cat_boundaries[at + 1]]
            bitsets.append([bool((int(word) >> b) & 1) for word in words for b in range(32)])
        cat_left = np.zeros((len(bitsets), max((len(b) for b in bitsets), default=0) + 1), dtype=bool)
        for row, bits in enumerate(bitsets):  # the last column stays False: a code beyond every bitset goes right
            cat_left[row, :len(bits)] = bits

        leaves = sorted(leaves, key=lambda leaf: -len(leaf.features))
        leaf_k = np.array([len(leaf.features) for leaf in leaves], dtype=np.int64)
        sizes = 2**leaf_k * leaf_k
        leaf_base = np.concatenate([[0], np.cumsum(sizes)])[:-1]
        assert sizes.sum() < 2**31, "table indices are int32"  # MAX_TABLE_SIZE keeps them far below
        table = np.empty(int(sizes.sum()))
        for k in np.unique(leaf_k):
            members = np.flatnonzero(leaf_k == k)  # consecutive: the leaves are sorted by k
            z = np.array([leaves[m].shares for m in members]).reshape(-1, k)
            v = np.array([leaves[m].value for m in members])
            table[leaf_base[members[0]]:leaf_base[members[-1]] + sizes[members[-1]]] = _leaf_tables(z, v).ravel()

        with_bit = [int(np.sum(leaf_k > b)) for b in range(int(leaf_k.max(initial=0)))]
        cond_split, cond_left, cond_pair, cond_rank = [], [], [], []
        p = 0
        for b, n in enumerate(with_bit):
            for li in range(n):
                for rank, (split, left) in enumerate(leaves[li].conditions[b]):
                    cond_split.append(position[split])
                    cond_left.append(left)
                    cond_pair.append(p)
                    cond_rank.append(rank)
                p += 1
        cond_pair_a, cond_rank_a = np.array(cond_pair, dtype=np.int64), np.array(cond_rank, dtype=np.int64)
        ranks = [(np.flatnonzero(cond_rank_a == r), cond_pair_a[cond_rank_a == r])
                 for r in range(int(cond_rank_a.max(initial=-1)) + 1)]
        pair_feature = np.array([f for leaf in leaves for f in leaf.features], dtype=np.int64)  # leaf by leaf
        to_features = scipy.sparse.csr_matrix(
            (np.ones(len(pair_feature)), (pair_feature, np.arange(len(pair_feature)))),
            shape=(n_features, len(pair_feature)))
        return cls(
            num_feature=feat[numerical], num_threshold=thr[numerical],
            num_default_left=((kinds[numerical] >> 1) & 1).astype(bool),
            num_zero_missing=missing[numerical] == 1, num_nan_missing=missing[numerical] == 2,
            cat_feature=feat[categorical], cat_left=cat_left,
            cond_split=np.array(cond_split, dtype=np.int64), cond_left=np.array(cond_left, dtype=bool),
            ranks=tuple(ranks), with_bit=tuple(with_bit),
            leaf_k=leaf_k, leaf_base=leaf_base.astype(np.int32),
            leaf_bit=np.concatenate([np.arange(k) for k in leaf_k]).astype(np.int32) if len(leaf_k) else
            np.zeros(0, np.int32),
            to_features=to_features, table=table,
        )

    def _goes_left(self, XT: np.ndarray) -> np.ndarray:
        """Each row's decision at every split (splits x rows, True = left), as LightGBM's ``Decision``; ``XT`` is the
        rows' features as (features x rows)."""
        out = np.empty((len(self.num_feature) + len(self.cat_feature), XT.shape[1]), dtype=bool)
        n = len(self.num_feature)
        if n:
            values = np.take(XT, self.num_feature, axis=0)
            values[np.abs(values) <= _ZERO] = 0.0  # LightGBM reads a row's near-zeros as 0 before any split
            nan = np.isnan(values)
            values[nan & ~self.num_nan_missing[:, None]] = 0.0  # NaN is 0 where NaN is not what is missing
            np.less_equal(values, self.num_threshold[:, None], out=out[:n])
            missing = (self.num_zero_missing[:, None] & (np.abs(values) <= _ZERO)) | (self.num_nan_missing[:, None] & nan)
            if missing.any():
                out[:n] = np.where(missing, self.num_default_left[:, None], out[:n])
        if len(self.cat_feature):
            values = np.take(XT, self.cat_feature, axis=0)
            beyond = self.cat_left.shape[1] - 1
            whole = np.trunc(values)  # static_cast<int>: toward zero; NaN and negative codes go right
            with np.errstate(invalid="ignore"):
                code = np.where(np.isnan(whole) | (whole < 0) | (whole >= beyond), beyond, whole)
            out[n:] = self.cat_left[np.arange(len(self.cat_feature))[:, None], code.astype(np.int64)]
        return out

    def add_to(self, out: np.ndarray, XT: np.ndarray) -> None:
        """Add this group of trees' contributions for the rows of ``XT`` (features x rows) to ``out`` (features x
        rows). Every array is (items x rows), so each step works on whole rows of it."""
        if not len(self.cond_split):
            return
        left = self._goes_left(XT)
        met = np.take(left, self.cond_split, axis=0)
        met ^= ~self.cond_left[:, None]  # met where the row goes the path's way
        first, pairs = self.ranks[0]
        pair_met = np.empty((sum(self.with_bit), XT.shape[1]), dtype=bool)
        pair_met[pairs] = met[first]
        for conds, pairs in self.ranks[1:]:  # a feature that splits again on the path
            pair_met[pairs] &= met[conds]
        pattern = np.zeros((len(self.leaf_k), XT.shape[1]), dtype=np.int32)
        start = 0
        for bit, n in enumerate(self.with_bit):
            pattern[:n] |= pair_met[start:start + n].astype(np.int32) << bit
            start += n
        pattern *= self.leaf_k[:, None].astype(np.int32)
        pattern += self.leaf_base[:, None]  # where each leaf's row for this pattern starts in the table
        index = np.repeat(pattern, self.leaf_k, axis=0)
        index += self.leaf_bit[:, None]
        out += self.to_features @ np.take(self.table, index)


class TreeTables:
    """Exact TreeSHAP of a LightGBM booster by tables (the module's text), its trees in groups."""

    def __init__(self, chunks: list[_Chunk], n_features: int, bias: float) -> None:
        self.chunks = chunks
        self.n_features = n_features
        self.bias = bias

    @classmethod
    def of_booster(cls, text: str) -> TreeTables | None:
        """The tables of the model in LightGBM's text format ``text`` (``Booster.model_to_string``), or None where
        they do not cover it."""
        trees, header = parse_trees(text)
        if header.get("num_tree_per_iteration", "1") != "1" or any(tree.linear for tree in trees):
            return None
        n_features = int(header["max_feature_idx"]) + 1
        bias, chunks, splits, leaves, pairs, size = 0.0, [], [], [], 0, 0
        for t, tree in enumerate(trees):
            if len(tree.leaf_value) == 1 or not len(tree.split_feature):
                bias += float(tree.leaf_value[0])
                continue
            bias += float(np.sum(tree.leaf_count / tree.internal_count[0] * tree.leaf_value))
            tree_leaves = _paths(tree, first=len(splits))
            if any(len(leaf.features) > MAX_PATH_FEATURES for leaf in tree_leaves):
                return None
            size += sum(2 ** len(leaf.features) * len(leaf.features) for leaf in tree_leaves)
            if size > MAX_TABLE_SIZE:
                return None
            splits.extend((t, n) for n in range(len(tree.split_feature)))
            leaves.extend(tree_leaves)
            pairs += sum(len(leaf.features) for leaf in tree_leaves)
            if pairs >= _CHUNK_PAIRS:
                chunks.append(_Chunk.of_leaves(trees, splits, leaves, n_features))
                splits, leaves, pairs = [], [], 0
        if leaves:
            chunks.append(_Chunk.of_leaves(trees, splits, leaves, n_features))
        return cls(chunks, n_features, bias)

    def probe_rows(self, rows: int = 64, seed: int = 0) -> np.ndarray:
        """Seeded rows whose values sit on every side of the model's splits: each split's threshold and the next
        number above it, each categorical code of a bitset and one beyond, and NaN, 0, -0.5 and -1 everywhere. What
        :meth:`_LGBMBase.tree_tables` checks the tables against LightGBM's own values on, so a platform or LightGBM
        version that reads a value otherwise (a cast of NaN differs between processors) falls back to LightGBM."""
        candidates: list[list[float]] = [[np.nan, 0.0, -0.5, -1.0] for _ in range(self.n_features)]
        for chunk in self.chunks:
            for f, t in zip(chunk.num_feature, chunk.num_threshold, strict=True):
                candidates[f] += [float(t), float(np.nextafter(t, np.inf))]
            for f in chunk.cat_feature:
                candidates[f] += [float(c) for c in range(chunk.cat_left.shape[1] + 1)]
        rng = np.random.default_rng(seed)
        return np.column_stack([rng.choice(np.array(c), rows) for c in candidates]) if self.n_features else \
            np.zeros((rows, 0))

    def _block(self, XT: np.ndarray) -> np.ndarray:
        out = np.zeros((self.n_features, XT.shape[1]))
        for chunk in self.chunks:
            chunk.add_to(out, XT)
        return out

    def contributions(self, X: np.ndarray, threads: int = 1) -> np.ndarray:
        """SHAP contributions of the rows of ``X`` (rows x features, as the booster reads them), the expected value
        in the last column: LightGBM's ``pred_contrib``. Blocks of rows on ``threads`` threads; each row's values do
        not depend on the blocks or threads."""
        XT = np.asarray(X, dtype=np.float64).T
        out = np.empty((XT.shape[1], self.n_features + 1))
        out[:, -1] = self.bias
        starts = range(0, XT.shape[1], _BLOCK_ROWS)

        def block(s: int) -> None:
            out[s:s + _BLOCK_ROWS, :-1] = self._block(XT[:, s:s + _BLOCK_ROWS]).T

        if threads <= 1 or len(starts) <= 1:
            for s in starts:
                block(s)
        else:
            with concurrent.futures.ThreadPoolExecutor(threads) as pool:
                list(pool.map(block, starts))
        return out


def _paths(tree: _Tree, first: int) -> list[_Leaf]:
    """Each leaf of ``tree`` with its path's distinct features (:class:`_Leaf`), splits numbered from ``first``."""

    def count(child: int) -> float:
        return float(tree.leaf_count[~child] if child < 0 else tree.internal_count[child])

    leaves = []
    stack: list[tuple[int, list]] = [(0, [])]
    while stack:
        node, path = stack.pop()
        if node < 0:
            shares: dict[int, float] = {}  # by feature, in order of first split
            conditions: dict[int, list] = {}
            for split, left, share in path:
                f = int(tree.split_feature[split])
                shares[f] = shares.get(f, 1.0) * share
                conditions.setdefault(f, []).append((first + split, left))
            leaves.append(_Leaf(float(tree.leaf_value[~node]), tuple(shares), tuple(shares.values()),
                                tuple(tuple(c) for c in conditions.values())))
            continue
        here = count(node)
        for child, left in ((int(tree.left[node]), True), (int(tree.right[node]), False)):
            stack.append((child, [*path, (node, left, count(child) / here)]))
    return leaves
