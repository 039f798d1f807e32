#!/usr/bin/env python3
"""Make a small, seeded, obviously fake pair of Parquet files for the Splink peer run.

Writes ``left.parquet`` and ``right.parquet`` in the input format of ``run_splink.py``:

    unique_id, name, name_pinyin, id_number, birth_date, gender, township, address,
    phone, true_person_id          (all UTF-8 strings; nulls allowed except ids)

Shape of the data (think "assistance roster" x "population register"):

* ``right`` holds ``--right-rows`` records of distinct persons, plus ``--right-dup-rate``
  of extra records that repeat a person already in ``right`` (so dedupe mode has work).
* ``left`` holds ``--left-rows`` records; ``--overlap`` of them are persons that also
  appear in ``right``, the rest are persons that appear only in ``left``.
* Every record copy is damaged independently: missing values, one-digit ID typos,
  adjacent-digit swaps in IDs, homophone name typos (pinyin unchanged), other name
  typos, birth-date digit typos, moved township, changed phone.

Everything is fake: ID numbers use the non-existent region prefix ``99`` (with a valid
ISO 7064 check digit so they look well-formed), phone numbers start with ``10`` (no
Chinese mobile number does), townships are ``99xxxx`` codes and addresses are in
``测试市`` ("test city").  Names are random combinations of common characters.

Only the Python standard library and pyarrow are needed.

    python make_test_data.py --out-dir /tmp/hedui-splink-data --left-rows 5000 --right-rows 50000
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq

# --- name material -------------------------------------------------------------------

# (surname, pinyin syllables, relative weight); weights roughly follow real frequency
# so that common surnames make big blocks, as in real data.
SURNAMES = [
    ("王", "wang", 72), ("李", "li", 70), ("张", "zhang", 68), ("刘", "liu", 53),
    ("陈", "chen", 45), ("杨", "yang", 31), ("黄", "huang", 22), ("赵", "zhao", 20),
    ("吴", "wu", 20), ("周", "zhou", 19), ("徐", "xu", 15), ("孙", "sun", 15),
    ("马", "ma", 13), ("朱", "zhu", 12), ("胡", "hu", 12), ("郭", "guo", 11),
    ("何", "he", 10), ("高", "gao", 10), ("林", "lin", 10), ("罗", "luo", 9),
    ("郑", "zheng", 9), ("梁", "liang", 8), ("谢", "xie", 7), ("宋", "song", 7),
    ("唐", "tang", 7), ("许", "xu", 6), ("韩", "han", 6), ("冯", "feng", 6),
    ("邓", "deng", 6), ("曹", "cao", 6), ("彭", "peng", 5), ("曾", "zeng", 5),
    ("肖", "xiao", 5), ("田", "tian", 5), ("董", "dong", 5), ("袁", "yuan", 4),
    ("潘", "pan", 4), ("于", "yu", 4), ("蒋", "jiang", 4), ("蔡", "cai", 4),
    ("余", "yu", 4), ("杜", "du", 4), ("叶", "ye", 4), ("程", "cheng", 3),
    ("苏", "su", 3), ("魏", "wei", 3), ("吕", "lv", 3), ("丁", "ding", 3),
    ("任", "ren", 3), ("沈", "shen", 3), ("姚", "yao", 3), ("卢", "lu", 3),
    ("欧阳", "ou yang", 1), ("司马", "si ma", 1), ("诸葛", "zhu ge", 1),
    ("上官", "shang guan", 1),
]

# Given-name characters with pinyin. Characters sharing a reading are the homophone
# typos a clerk makes when typing from speech (晓/小, 文/雯, 明/鸣, ...).
GIVEN_CHARS = [
    ("伟", "wei"), ("玮", "wei"), ("芳", "fang"), ("方", "fang"), ("娜", "na"),
    ("敏", "min"), ("民", "min"), ("静", "jing"), ("婧", "jing"), ("丽", "li"),
    ("莉", "li"), ("强", "qiang"), ("磊", "lei"), ("军", "jun"), ("君", "jun"),
    ("洋", "yang"), ("阳", "yang"), ("勇", "yong"), ("艳", "yan"), ("燕", "yan"),
    ("杰", "jie"), ("洁", "jie"), ("娟", "juan"), ("涛", "tao"), ("明", "ming"),
    ("鸣", "ming"), ("超", "chao"), ("秀", "xiu"), ("英", "ying"), ("颖", "ying"),
    ("华", "hua"), ("桦", "hua"), ("慧", "hui"), ("惠", "hui"), ("建", "jian"),
    ("健", "jian"), ("国", "guo"), ("红", "hong"), ("宏", "hong"), ("平", "ping"),
    ("萍", "ping"), ("刚", "gang"), ("晓", "xiao"), ("小", "xiao"), ("文", "wen"),
    ("雯", "wen"), ("辉", "hui"), ("玲", "ling"), ("林", "lin"), ("霞", "xia"),
    ("峰", "feng"), ("锋", "feng"), ("海", "hai"), ("云", "yun"), ("芸", "yun"),
    ("波", "bo"), ("博", "bo"), ("宇", "yu"), ("雨", "yu"), ("欣", "xin"),
    ("新", "xin"), ("佳", "jia"), ("家", "jia"), ("志", "zhi"), ("智", "zhi"),
    ("春", "chun"), ("兰", "lan"), ("岚", "lan"), ("梅", "mei"), ("美", "mei"),
    ("金", "jin"), ("晶", "jing"), ("荣", "rong"), ("斌", "bin"), ("彬", "bin"),
    ("凤", "feng"), ("桂", "gui"), ("玉", "yu"), ("珍", "zhen"), ("振", "zhen"),
    ("东", "dong"), ("冬", "dong"), ("亮", "liang"), ("良", "liang"), ("成", "cheng"),
    ("诚", "cheng"), ("婷", "ting"), ("庭", "ting"), ("飞", "fei"), ("菲", "fei"),
    ("鹏", "peng"), ("朋", "peng"), ("浩", "hao"), ("昊", "hao"), ("子", "zi"),
    ("梓", "zi"), ("涵", "han"), ("晗", "han"), ("轩", "xuan"), ("萱", "xuan"),
    ("思", "si"), ("嘉", "jia"), ("俊", "jun"), ("德", "de"), ("福", "fu"),
    ("生", "sheng"), ("胜", "sheng"), ("忠", "zhong"), ("中", "zhong"), ("立", "li"),
    ("力", "li"), ("安", "an"), ("爱", "ai"), ("宁", "ning"), ("凯", "kai"),
]

HOMOPHONES: dict[str, list[int]] = {}
for _i, (_c, _p) in enumerate(GIVEN_CHARS):
    HOMOPHONES.setdefault(_p, []).append(_i)

STREETS = ["建设路", "解放路", "人民路", "和平街", "文化路", "新华街", "光明路", "幸福巷"]
CHECK_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
CHECK_CHARS = "10X98765432"


def check_digit(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character of an 18-character resident ID."""
    s = sum(int(d) * w for d, w in zip(first17, CHECK_WEIGHTS))
    return CHECK_CHARS[s % 11]


class Maker:
    def __init__(self, seed: int, n_townships: int) -> None:
        self.rng = random.Random(seed)
        rng = self.rng
        # 20 fake counties (region codes 99xxxx), townships nested in them.
        self.counties = [f"99{rng.randrange(100, 9999):04d}" for _ in range(20)]
        self.townships = []
        for i in range(n_townships):
            county = self.counties[i % len(self.counties)]
            self.townships.append((f"{county}{100 + i:03d}", county, i))
        self.surname_weights = [w for _, _, w in SURNAMES]
        self.next_person = 0
        self.used_ids: set[str] = set()

    # -- clean persons ----------------------------------------------------------------
    def person(self) -> dict:
        rng = self.rng
        s_idx = rng.choices(range(len(SURNAMES)), weights=self.surname_weights)[0]
        n_given = 1 if rng.random() < 0.3 else 2
        given = [rng.randrange(len(GIVEN_CHARS)) for _ in range(n_given)]
        birth = dt.date(1930, 1, 1) + dt.timedelta(days=rng.randrange(0, 33000))
        gender = rng.choice("12")
        township, county, t_idx = rng.choice(self.townships)
        while True:
            seq = rng.randrange(0, 500) * 2 + (1 if gender == "1" else 0)  # odd = male
            first17 = f"{county}{birth:%Y%m%d}{seq:03d}"
            pid = first17 + check_digit(first17)
            if pid not in self.used_ids:
                self.used_ids.add(pid)
                break
        self.next_person += 1
        return {
            "true_person_id": f"P{self.next_person:08d}",
            "surname": s_idx,
            "given": given,
            "id_number": pid,
            "birth_date": birth.isoformat(),
            "gender": gender,
            "township": township,
            "address": f"测试市{t_idx + 1}号街道{rng.choice(STREETS)}{rng.randrange(1, 300)}号",
            "phone": "10" + "".join(rng.choice("0123456789") for _ in range(9)),
        }

    # -- damaged record copies --------------------------------------------------------
    def record(self, p: dict, uid: str) -> dict:
        rng = self.rng
        surname, s_pinyin, _ = SURNAMES[p["surname"]]
        given = list(p["given"])
        r = rng.random()
        if r < 0.04:  # homophone typo: the pinyin stays the same
            k = rng.randrange(len(given))
            given[k] = rng.choice(HOMOPHONES[GIVEN_CHARS[given[k]][1]])
        elif r < 0.06:  # a different character
            k = rng.randrange(len(given))
            given[k] = rng.randrange(len(GIVEN_CHARS))
        elif r < 0.07 and len(given) == 2:  # a character dropped
            given = given[:1]
        name = surname + "".join(GIVEN_CHARS[g][0] for g in given)
        pinyin = " ".join([s_pinyin] + [GIVEN_CHARS[g][1] for g in given])

        pid = p["id_number"]
        r = rng.random()
        if r < 0.05:
            pid = None
        elif r < 0.08:  # one digit mistyped
            k = rng.randrange(17)
            pid = pid[:k] + rng.choice([d for d in "0123456789" if d != pid[k]]) + pid[k + 1:]
        elif r < 0.09:  # two adjacent digits swapped
            k = rng.randrange(16)
            pid = pid[:k] + pid[k + 1] + pid[k] + pid[k + 2:]

        birth = p["birth_date"]
        r = rng.random()
        if r < 0.03:
            birth = None
        elif r < 0.05:  # one digit mistyped (may not be a valid date: it is a string)
            k = rng.choice([2, 3, 5, 6, 8, 9])
            birth = birth[:k] + rng.choice([d for d in "0123456789" if d != birth[k]]) + birth[k + 1:]

        gender = p["gender"]
        r = rng.random()
        if r < 0.02:
            gender = None
        elif r < 0.025:
            gender = "2" if gender == "1" else "1"

        township = p["township"]
        r = rng.random()
        if r < 0.05:
            township = None
        elif r < 0.10:
            township = rng.choice(self.townships)[0]

        address = p["address"] if rng.random() > 0.2 else None

        phone = p["phone"]
        r = rng.random()
        if r < 0.30:
            phone = None
        elif r < 0.40:
            phone = "10" + "".join(rng.choice("0123456789") for _ in range(9))

        return {
            "unique_id": uid,
            "name": name,
            "name_pinyin": pinyin,
            "id_number": pid,
            "birth_date": birth,
            "gender": gender,
            "township": township,
            "address": address,
            "phone": phone,
            "true_person_id": p["true_person_id"],
        }


COLUMNS = [
    "unique_id", "name", "name_pinyin", "id_number", "birth_date", "gender",
    "township", "address", "phone", "true_person_id",
]


def write(records: list[dict], path: str) -> None:
    schema = pa.schema([(c, pa.string()) for c in COLUMNS])
    table = pa.Table.from_pydict({c: [r[c] for r in records] for c in COLUMNS}, schema=schema)
    pq.write_table(table, path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out-dir", required=True, help="directory for left.parquet and right.parquet")
    ap.add_argument("--left-rows", type=int, default=5000)
    ap.add_argument("--right-rows", type=int, default=50000)
    ap.add_argument("--overlap", type=float, default=0.8,
                    help="share of left records whose person is also in right (default 0.8)")
    ap.add_argument("--right-dup-rate", type=float, default=0.03,
                    help="extra right records repeating a right person, as a share of right (default 0.03)")
    ap.add_argument("--townships", type=int, default=200)
    ap.add_argument("--seed", type=int, default=2021)
    args = ap.parse_args(argv)
    if args.left_rows < 1 or args.right_rows < 1:
        ap.error("row counts must be positive")
    if not 0 <= args.overlap <= 1 or not 0 <= args.right_dup_rate < 1:
        ap.error("--overlap must be in [0,1] and --right-dup-rate in [0,1)")

    t0 = time.perf_counter()
    m = Maker(args.seed, args.townships)
    n_dup = int(round(args.right_rows * args.right_dup_rate))
    n_right_persons = args.right_rows - n_dup
    right_persons = [m.person() for _ in range(n_right_persons)]
    right = [m.record(p, f"R{i:08d}") for i, p in enumerate(right_persons)]
    for _ in range(n_dup):
        right.append(m.record(m.rng.choice(right_persons), f"R{len(right):08d}"))
    m.rng.shuffle(right)

    n_shared = min(int(round(args.left_rows * args.overlap)), n_right_persons)
    shared = m.rng.sample(right_persons, n_shared)
    left_persons = shared + [m.person() for _ in range(args.left_rows - n_shared)]
    m.rng.shuffle(left_persons)
    left = [m.record(p, f"L{i:08d}") for i, p in enumerate(left_persons)]

    os.makedirs(args.out_dir, exist_ok=True)
    lp = os.path.join(args.out_dir, "left.parquet")
    rp = os.path.join(args.out_dir, "right.parquet")
    write(left, lp)
    write(right, rp)
    print(f"wrote {lp} ({len(left)} rows, {n_shared} persons also in right)")
    print(f"wrote {rp} ({len(right)} rows, {n_dup} repeat records)")
    print(f"seed {args.seed}, {time.perf_counter() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
