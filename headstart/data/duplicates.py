"""Texts duplicated across row sets: equal after ``normalize``, or near by shingle Jaccard via MinHash LSH (Broder 1997)."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

import numpy as np

BANDS, ROWS = 16, 4  # 64 MinHash values; the S-curve's midpoint (1/16)^(1/4) = 0.5 sits well below 0.8
SHINGLE = 3  # words per shingle
_NON_WORD = re.compile(r"[^\w\s]|_")


def normalize(text: str) -> str:
    """NFKC, lowercase, every character but letters, digits and spaces turned into a space, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", str(text)).lower()
    return " ".join(_NON_WORD.sub(" ", text).split())


def match_rows(inputs: list[Any], train: np.ndarray, test: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each test row, a train position it duplicates, the similarity, and whether the copy is exact.

    Args:
        inputs: all texts of the dataset.
        train: (M,) rows to compare against (pool + validation).
        test: (T,) rows to check.
        threshold: Jaccard threshold in (0, 1]; 1.0 checks exact duplicates only.

    Returns:
        match: (T,) int64 positions into ``train`` (-1: no duplicate; the first such position when exact,
            the most similar, then the first, when near).
        similarity: (T,) float64: 1.0 for exact, the verified Jaccard for near, 0.0 for none.
        exact: (T,) bool, equal after ``normalize``.
    """
    return match_texts([normalize(inputs[i]) for i in train], [normalize(inputs[i]) for i in test], threshold)


def match_texts(train: list[str], test: list[str], threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``match_rows`` of texts already through ``normalize`` (a caller that reads them twice normalises them once):
    ``train`` (M,) and ``test`` (T,) texts; ``match`` holds positions into ``train``."""
    normal = train + test
    unique: dict[str, int] = {}
    doc = np.fromiter((unique.setdefault(t, len(unique)) for t in normal), dtype=np.int64, count=len(normal))
    texts = list(unique)
    train_doc, test_doc = doc[: len(train)], doc[len(train):]
    first_train = np.full(len(texts), -1, dtype=np.int64)
    seen, first = np.unique(train_doc, return_index=True)
    first_train[seen] = first  # the first train position holding each text
    nonempty = np.asarray([t != "" for t in texts], dtype=bool)
    exact = (first_train[test_doc] >= 0) & nonempty[test_doc]
    match = np.where(exact, first_train[test_doc], -1)
    similarity = exact.astype(np.float64)
    if threshold >= 1.0 or len(test) == 0:
        return match, similarity, exact
    shingles, offsets = _shingles(texts)
    train_docs = np.unique(train_doc[nonempty[train_doc]])
    query_docs = np.unique(test_doc[nonempty[test_doc] & (first_train[test_doc] < 0)])
    if len(train_docs) == 0 or len(query_docs) == 0:
        return match, similarity, exact
    signature = _minhash(shingles, offsets, np.concatenate([train_docs, query_docs]))
    partner, best = _near(signature[: len(train_docs)], signature[len(train_docs):], train_docs, query_docs, shingles, offsets, threshold)
    found_partner = np.full(len(texts), -1, dtype=np.int64)
    found_sim = np.zeros(len(texts))
    found_partner[query_docs], found_sim[query_docs] = partner, best
    near = ~exact & (found_partner[test_doc] >= 0)
    match[near] = first_train[found_partner[test_doc[near]]]
    similarity[near] = found_sim[test_doc[near]]
    return match, similarity, exact


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a fixed, well-spread 64-bit hash of uint64 values."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def _shingles(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Word 3-shingle hashes of every text (a text of 1-2 words is one shingle; an empty one has none).

    Returns:
        shingles: (S,) uint64 hashes in [0, 2^32), text by text.
        offsets: (len(texts) + 1,) start of each text's shingles; text d has ``shingles[offsets[d]:offsets[d+1]]``.
    """
    vocab: dict[str, int] = {}
    ids: list[int] = []
    lengths = np.zeros(len(texts), dtype=np.int64)
    pad = [-1] * (SHINGLE - 1)  # every text is followed by padding, so a short text still makes one shingle
    for d, text in enumerate(texts):
        words = text.split()
        lengths[d] = len(words)
        ids.extend(vocab.setdefault(w, len(vocab)) for w in words)
        ids.extend(pad)
    tokens = _mix(np.asarray(ids, dtype=np.int64).astype(np.uint64))
    count = np.where(lengths >= SHINGLE, lengths - SHINGLE + 1, (lengths > 0).astype(np.int64))
    offsets = np.concatenate([[0], np.cumsum(count)])
    padded_start = np.concatenate([[0], np.cumsum(lengths + SHINGLE - 1)[:-1]])
    position = np.repeat(padded_start - offsets[:-1], count) + np.arange(offsets[-1])
    h = tokens[position]
    with np.errstate(over="ignore"):
        for k in range(1, SHINGLE):
            h = _mix(h * np.uint64(31) + tokens[position + k])
    return h >> np.uint64(32), offsets


def _gather(shingles: np.ndarray, offsets: np.ndarray, docs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The shingles of ``docs`` concatenated, with their own offsets."""
    count = offsets[docs + 1] - offsets[docs]
    local = np.concatenate([[0], np.cumsum(count)])
    index = np.repeat(offsets[docs] - local[:-1], count) + np.arange(local[-1])
    return shingles[index], local


def _minhash(shingles: np.ndarray, offsets: np.ndarray, docs: np.ndarray, chunk: int = 100_000) -> np.ndarray:
    """(len(docs), BANDS*ROWS) uint32 MinHash signatures, with multiply-shift hashes h(x) = (a·x + b) >> 32."""
    rng = np.random.default_rng(20240607)  # fixed: signatures must match across processes and runs
    a = rng.integers(1, 2**63, size=BANDS * ROWS, dtype=np.uint64) | np.uint64(1)
    b = rng.integers(0, 2**63, size=BANDS * ROWS, dtype=np.uint64)
    values, local = _gather(shingles, offsets, docs)
    signature = np.empty((len(docs), BANDS * ROWS), dtype=np.uint32)
    start = 0
    while start < len(docs):
        # Whole documents per chunk, about ``chunk`` shingles each (a 64-wide uint64 block of that many rows).
        stop = max(start + 1, int(np.searchsorted(local, local[start] + chunk, side="right")) - 1)
        stop = min(stop, len(docs))
        block = values[local[start]: local[stop]]
        with np.errstate(over="ignore"):
            hashed = (block[:, None] * a[None, :] + b[None, :]) >> np.uint64(32)
        signature[start:stop] = np.minimum.reduceat(hashed, local[start:stop] - local[start], axis=0)
        start = stop
    return signature


def _near(train_sig: np.ndarray, query_sig: np.ndarray, train_docs: np.ndarray, query_docs: np.ndarray,
          shingles: np.ndarray, offsets: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Best verified train document (-1: none) and its Jaccard for each query document."""
    pairs = []
    for band in range(BANDS):
        cols = slice(band * ROWS, (band + 1) * ROWS)
        train_key, query_key = _band_key(train_sig[:, cols]), _band_key(query_sig[:, cols])
        order = np.argsort(train_key, kind="stable")
        sorted_key = train_key[order]
        lo = np.searchsorted(sorted_key, query_key, side="left")
        hits = np.searchsorted(sorted_key, query_key, side="right") - lo
        q = np.repeat(np.arange(len(query_key)), hits)
        within = np.arange(hits.sum()) - np.repeat(np.cumsum(hits) - hits, hits)
        pairs.append(q * len(train_key) + order[np.repeat(lo, hits) + within])
    code = np.unique(np.concatenate(pairs))
    q, t = code // len(train_docs), code % len(train_docs)
    # Cheap filter first: the share of equal MinHash values estimates J (s.d. <= 0.0625 with 64 values).
    keep = (query_sig[q] == train_sig[t]).mean(axis=1) >= threshold - 0.25
    q, t = q[keep], t[keep]
    sets: dict[int, frozenset] = {}

    def shingle_set(d: int) -> frozenset:
        if d not in sets:
            sets[d] = frozenset(shingles[offsets[d]: offsets[d + 1]].tolist())
        return sets[d]

    partner = np.full(len(query_docs), -1, dtype=np.int64)
    best = np.zeros(len(query_docs))
    for qi, ti in zip(q.tolist(), t.tolist()):  # sorted by query, then train document: ties keep the first
        a, b = shingle_set(int(query_docs[qi])), shingle_set(int(train_docs[ti]))
        jaccard = len(a & b) / len(a | b)
        if jaccard >= threshold and jaccard > best[qi]:
            partner[qi], best[qi] = train_docs[ti], jaccard
    return partner, best


def _band_key(rows: np.ndarray) -> np.ndarray:
    """(N, ROWS) uint32 -> (N,) uint64 key of the band."""
    key = np.zeros(len(rows), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for col in range(rows.shape[1]):
            key = _mix(key * np.uint64(0x100000001B3) + rows[:, col].astype(np.uint64))
    return key
