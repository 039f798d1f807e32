#!/usr/bin/env python3
"""Check that run_splink.py's per-character Jaro-Winkler SQL agrees with Rust's strsim.

run_splink.py compares names with DuckDB's jaro_winkler_similarity after re-spelling each
pair in ASCII (one byte per distinct character), to get the per-character score that hedui
computes with ``strsim::jaro_winkler``. This script runs that SQL on random Chinese name
pairs (substitutions, adjacent swaps, insertions, deletions, repeated characters) and
compares the >= 0.9 and >= 0.8 decisions with a Python transcription of strsim 0.11's
``generic_jaro`` / ``generic_jaro_winkler`` (integer half-transpositions, prefix bonus of
up to 4 characters only when Jaro > 0.7). Exits 1 on any disagreement.

    $HOME/.cache/hedui-splink-venv/bin/python benches/splink/check_name_jw.py
"""

from __future__ import annotations

import os
import random
import sys

import duckdb

sys.dont_write_bytecode = True  # no __pycache__ in the repository
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run_splink import name_jw_sql  # noqa: E402


def strsim_jaro(a: str, b: str) -> float:
    if not a and not b:
        return 1.0
    if not a or not b:
        return 0.0
    window = max(max(len(a), len(b)) // 2 - 1, 0)
    fa, fb = [False] * len(a), [False] * len(b)
    matches = 0
    for i, c in enumerate(a):
        for j in range(max(0, i - window), min(len(b), i + window + 1)):
            if not fb[j] and b[j] == c:
                fa[i] = fb[j] = True
                matches += 1
                break
    if matches == 0:
        return 0.0
    sa = [c for c, f in zip(a, fa) if f]
    sb = [c for c, f in zip(b, fb) if f]
    half_t = sum(x != y for x, y in zip(sa, sb)) // 2
    return (matches / len(a) + matches / len(b) + (matches - half_t) / matches) / 3


def strsim_jaro_winkler(a: str, b: str) -> float:
    sim = strsim_jaro(a, b)
    if sim <= 0.7:
        return sim
    prefix = 0
    for x, y in zip(a[:4], b[:4]):
        if x != y:
            break
        prefix += 1
    return sim + 0.1 * prefix * (1.0 - sim)


def random_pairs(n: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    chars = "王李张刘陈欧阳晓小明鸣文雯伟玮丽莉"
    pairs = []
    for _ in range(n):
        a = "".join(rng.choice(chars) for _ in range(rng.randint(1, 6)))
        b = list(a)
        for _ in range(rng.randint(0, 3)):
            op = rng.random()
            if op < 0.4 and b:
                b[rng.randrange(len(b))] = rng.choice(chars)
            elif op < 0.7 and len(b) > 1:
                k = rng.randrange(len(b) - 1)
                b[k], b[k + 1] = b[k + 1], b[k]
            elif op < 0.85 and b:
                del b[rng.randrange(len(b))]
            else:
                b.insert(rng.randrange(len(b) + 1), rng.choice(chars))
        pairs.append((a, "".join(b) or a))
    pairs += [("张晓明", "张小明"), ("张明晓", "张晓明"), ("李文", "李雯"), ("欧阳娜娜", "欧阳娜")]
    return pairs


def main() -> int:
    pairs = random_pairs(20000, seed=1)
    con = duckdb.connect()
    con.execute("CREATE TABLE p (name_l VARCHAR, name_r VARCHAR)")
    con.executemany("INSERT INTO p VALUES (?, ?)", pairs)
    con.execute("CREATE TABLE q AS SELECT *, string_split(name_l, '') AS name_chars_l, "
                "string_split(name_r, '') AS name_chars_r FROM p")
    checked = bad = 0
    for threshold in (0.9, 0.8):
        rows = con.execute(
            f"SELECT name_l, name_r, ({name_jw_sql(threshold, 'chars')}) FROM q").fetchall()
        for a, b, got in rows:
            checked += 1
            want = strsim_jaro_winkler(a, b) >= threshold - 1e-9
            if got != want:
                bad += 1
                if bad <= 10:
                    print(f"mismatch at {threshold}: {a} / {b}: sql {got}, "
                          f"strsim {strsim_jaro_winkler(a, b):.6f}")
    print(f"{checked - bad} passed, {bad} failed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
