#!/usr/bin/env python3
"""The peer run of hedui's linkage benchmark: Splink 5 on DuckDB, same data, same model.

    run_splink.py --left L.parquet --right R.parquet --out-json metrics.json \
                  [--threshold 0.5] [--mode link|dedupe] [--threads N]

Loads the two Parquet files into an in-process DuckDB, builds the Splink equivalent of
hedui's Fellegi-Sunter model (blocking rules, comparisons, training recipe: see
README.md), predicts the pairs with match probability >= threshold, evaluates them
against ``true_person_id`` (which the model never sees) and writes timings, peak memory,
pair counts, precision/recall/F1 and the trained m/u parameters as JSON.

Run it with the interpreter of the virtual environment that ``setup.sh`` makes.
"""

from __future__ import annotations

import time

T_START = time.perf_counter()  # before the heavy imports: their cost is part of the run

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from importlib.metadata import version  # noqa: E402

REQUIRED_COLUMNS = [
    "unique_id", "name", "name_pinyin", "id_number", "birth_date", "gender",
    "township", "address", "phone", "true_person_id",
]

# Match key separator Splink uses in its blocked-pairs table (internals/unique_id_concat.py).
SPLINK_CONCAT_SEPARATOR = "-__-"

log = logging.getLogger("run_splink")


def maxrss_mib() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


# --- model -----------------------------------------------------------------------------


def name_jw_sql(threshold: float, kind: str) -> str:
    """SQL condition: Jaro-Winkler similarity of name_l and name_r >= threshold.

    DuckDB's jaro_winkler_similarity works on UTF-8 *bytes*: a Chinese character is three
    bytes, so 张晓明/张小明 score 0.844 instead of the 0.800 that a per-character
    Jaro-Winkler (hedui's, like Rust's strsim) gives, and since most characters share
    their lead byte, about 1 % of random name pairs reach 0.8 by byte against 0.07 % by
    character. With kind == "chars" both names are first re-spelled pair-locally so that
    each distinct character of the pair becomes one ASCII byte: chr(32 + the position of
    its first occurrence in name_l's characters followed by name_r's). Jaro-Winkler depends
    only on which characters are equal, so DuckDB's native function then returns the
    per-character score (exactly so while a pair has at most 95 characters between its two
    names; chr() stays single-byte ASCII up to there). ``name_chars`` (the name split into characters) is derived once
    at load time, which halves the cost against splitting per pair. kind == "bytes" uses
    the built-in on the raw names.

    A tolerance of 1e-9 makes the thresholds mean what they say: the most common typo,
    one of three characters wrong with the surname right, scores exactly 0.8 per
    character, which floating point computes as 0.7999999999999999.
    """
    if kind == "bytes":
        return f"jaro_winkler_similarity(name_l, name_r) >= {threshold} - 1e-9"
    left = ("array_to_string(list_transform(name_chars_l, "
            "lambda ch: chr(32 + list_position(name_chars_l, ch))), '')")
    right = ("array_to_string(list_transform(name_chars_r, "
             "lambda ch: chr(CAST(32 + coalesce(list_position(name_chars_l, ch), "
             "len(name_chars_l) + list_position(name_chars_r, ch)) AS INTEGER))), '')")
    return f"jaro_winkler_similarity({left}, {right}) >= {threshold} - 1e-9"


def build_settings(link_type: str, name_jw: str):
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    comparisons = [
        # null; exact; Levenshtein <= 1; <= 2; else
        cl.LevenshteinAtThresholds("id_number", [1, 2]),
        cl.CustomComparison(
            output_column_name="name",
            comparison_description="name: exact (tf-adjusted), pinyin exact, Jaro-Winkler >= 0.9, >= 0.8",
            comparison_levels=[
                cll.NullLevel("name"),
                cll.ExactMatchLevel("name", term_frequency_adjustments=True),
                cll.ExactMatchLevel("name_pinyin").configure(
                    label_for_charts="name_pinyin exact (homophone typo)"
                ),
                cll.CustomLevel(
                    name_jw_sql(0.9, name_jw),
                    label_for_charts=f"Jaro-Winkler(name, {name_jw}) >= 0.9",
                ),
                cll.CustomLevel(
                    name_jw_sql(0.8, name_jw),
                    label_for_charts=f"Jaro-Winkler(name, {name_jw}) >= 0.8",
                ),
                cll.ElseLevel(),
            ],
        ),
        # null; exact; Levenshtein <= 1 on the ISO string; else
        cl.LevenshteinAtThresholds("birth_date", [1]),
        cl.ExactMatch("gender"),
        cl.ExactMatch("township"),
        cl.ExactMatch("phone"),
    ]

    blocking_rules = [
        block_on("id_number"),
        block_on("name_pinyin", "birth_date"),
        # surname_pinyin = first syllable of name_pinyin (derived at load time)
        block_on("surname_pinyin", "birth_date", "township"),
        # id_head6/id_tail4 = first 6 / last 4 characters of id_number (derived at load
        # time): with birth_date they catch a mistyped digit in positions 7-14.
        block_on("id_head6", "id_tail4", "birth_date"),
    ]

    return SettingsCreator(
        link_type=link_type,
        unique_id_column_name="unique_id",
        comparisons=comparisons,
        blocking_rules_to_generate_predictions=blocking_rules,
        retain_matching_columns=True,
        retain_intermediate_calculation_columns=False,
    )


# --- loading ---------------------------------------------------------------------------


def model_select_sql(path: str, source: str | None) -> str:
    """Standardising SELECT over one Parquet file: model columns plus derived keys.

    true_person_id and address are deliberately left out: the model never sees them.
    """

    def nz(col: str) -> str:
        return f"NULLIF(trim(CAST({col} AS VARCHAR)), '')"

    src = f"{sql_str(source)} AS source_dataset,\n" if source else ""
    return f"""
        SELECT
            CAST(unique_id AS VARCHAR) AS unique_id,
            {src}
            {nz('name')} AS name,
            lower({nz('name_pinyin')}) AS name_pinyin,
            string_split({nz('name')}, '') AS name_chars,
            NULLIF(split_part(lower({nz('name_pinyin')}), ' ', 1), '') AS surname_pinyin,
            upper({nz('id_number')}) AS id_number,
            left(upper({nz('id_number')}), 6) AS id_head6,
            right(upper({nz('id_number')}), 4) AS id_tail4,
            {nz('birth_date')} AS birth_date,
            {nz('gender')} AS gender,
            {nz('township')} AS township,
            {nz('phone')} AS phone
        FROM read_parquet({sql_str(path)})
    """


def truth_select_sql(path: str, source: str) -> str:
    return f"""
        SELECT {sql_str(source)} AS source_dataset,
               CAST(unique_id AS VARCHAR) AS unique_id,
               NULLIF(trim(CAST(true_person_id AS VARCHAR)), '') AS true_person_id
        FROM read_parquet({sql_str(path)})
    """


def check_columns(con, path: str) -> None:
    cols = [r[0] for r in con.execute(
        f"DESCRIBE SELECT * FROM read_parquet({sql_str(path)})").fetchall()]
    missing = [c for c in REQUIRED_COLUMNS if c not in cols]
    if missing:
        raise SystemExit(f"error: {path} lacks column(s) {', '.join(missing)}")


def load(con, args) -> dict:
    files = [("left", args.left)] + ([("right", args.right)] if args.right else [])
    for _, path in files:
        check_columns(con, path)

    if args.mode == "link":
        for source, path in files:
            con.execute(f"CREATE TABLE input_{source} AS {model_select_sql(path, source)}")
    else:
        union = " UNION ALL ".join(model_select_sql(p, None) for _, p in files)
        con.execute(f"CREATE TABLE input_all AS {union}")
    union = " UNION ALL ".join(truth_select_sql(p, s) for s, p in files)
    con.execute(f"CREATE TABLE truth AS {union}")

    dup = con.execute(
        "SELECT count(*) - count(DISTINCT (source_dataset, unique_id)) FROM truth"
        if args.mode == "link" else
        "SELECT count(*) - count(DISTINCT unique_id) FROM truth"
    ).fetchone()[0]
    if dup:
        raise SystemExit(f"error: unique_id is not unique ({dup} repeats)")

    rows = dict(con.execute(
        "SELECT source_dataset, count(*) FROM truth GROUP BY 1").fetchall())
    return {"left_rows": rows.get("left", 0), "right_rows": rows.get("right", 0)}


# --- evaluation ------------------------------------------------------------------------


def evaluate(con, args, predictions_table: str, blocked_table: str | None) -> dict:
    thr = float(args.threshold)
    if args.mode == "link":
        # Splink's link_only puts the first input on the left, but do not rely on it.
        true_pairs = con.execute("""
            SELECT coalesce(sum(a.n * b.n), 0)::BIGINT FROM
              (SELECT true_person_id, count(*) n FROM truth
               WHERE source_dataset = 'left' AND true_person_id IS NOT NULL GROUP BY 1) a
            JOIN
              (SELECT true_person_id, count(*) n FROM truth
               WHERE source_dataset = 'right' AND true_person_id IS NOT NULL GROUP BY 1) b
            USING (true_person_id)
        """).fetchone()[0]
        join = """
            JOIN truth tl ON tl.source_dataset = p.source_dataset_l AND tl.unique_id = p.unique_id_l
            JOIN truth tr ON tr.source_dataset = p.source_dataset_r AND tr.unique_id = p.unique_id_r
        """
        key = f"source_dataset || '{SPLINK_CONCAT_SEPARATOR}' || unique_id"
        cross = "AND tl.source_dataset <> tr.source_dataset"
    else:
        true_pairs = con.execute("""
            SELECT coalesce(sum(n * (n - 1) / 2), 0)::BIGINT FROM
              (SELECT true_person_id, count(*) n FROM truth
               WHERE true_person_id IS NOT NULL GROUP BY 1)
        """).fetchone()[0]
        join = """
            JOIN truth tl ON tl.unique_id = p.unique_id_l
            JOIN truth tr ON tr.unique_id = p.unique_id_r
        """
        key = "unique_id"
        cross = ""

    predicted, tp, unmatched = con.execute(f"""
        WITH p AS (SELECT * FROM {predictions_table} WHERE match_probability >= {thr!r})
        SELECT
            (SELECT count(*) FROM p),
            count(*) FILTER (WHERE tl.true_person_id = tr.true_person_id {cross}),
            (SELECT count(*) FROM p) - count(*)
        FROM p {join}
    """).fetchone()
    if unmatched:
        log.warning("%d predicted pairs did not join back to the input ids", unmatched)
    fp = predicted - tp
    fn = true_pairs - tp
    precision = tp / predicted if predicted else None
    recall = tp / true_pairs if true_pairs else None
    f1 = (2 * precision * recall / (precision + recall)
          if precision is not None and recall is not None and (precision + recall) > 0
          else None)

    out = {
        "true_pairs": int(true_pairs),
        "predicted_pairs": int(predicted),
        "tp": int(tp), "fp": int(fp), "fn": int(fn),
        "precision": precision, "recall": recall, "f1": f1,
    }

    # Pair completeness of the blocking rules: true pairs among the candidate pairs.
    out["candidate_true_pairs"] = None
    out["blocking_recall"] = None
    if blocked_table is not None:
        try:
            con.execute(f"CREATE TEMP TABLE truth_key AS SELECT {key} AS k, true_person_id FROM truth")
            n, joined, btp = con.execute(f"""
                SELECT count(*),
                       count(tl.k) FILTER (WHERE tr.k IS NOT NULL),
                       count(*) FILTER (WHERE tl.true_person_id = tr.true_person_id)
                FROM {blocked_table} b
                LEFT JOIN truth_key tl ON tl.k = b.join_key_l
                LEFT JOIN truth_key tr ON tr.k = b.join_key_r
            """).fetchone()
            if n == joined:
                out["candidate_true_pairs"] = int(btp)
                out["blocking_recall"] = btp / true_pairs if true_pairs else None
            else:
                log.warning("blocked-pair keys not understood (%d of %d joined); "
                            "blocking_recall left null", joined, n)
        except Exception as e:  # an internal table layout: never fail the run over it
            log.warning("blocking recall not computed: %s", e)
    return out


# --- parameters ------------------------------------------------------------------------


def trained_parameters(linker) -> dict:
    model = linker.misc.save_model_to_json()
    comps = []
    for c in model.get("comparisons", []):
        levels = []
        for lv in c.get("comparison_levels", []):
            m, u = lv.get("m_probability"), lv.get("u_probability")
            level = {
                "label": lv.get("label_for_charts"),
                "sql_condition": lv.get("sql_condition"),
                "is_null_level": bool(lv.get("is_null_level", False)),
                "m_probability": m,
                "u_probability": u,
                "match_weight": (math.log2(m / u)
                                 if not lv.get("is_null_level") and m and u else None),
            }
            if lv.get("tf_adjustment_column"):
                level["tf_adjustment_column"] = lv["tf_adjustment_column"]
                level["tf_adjustment_weight"] = lv.get("tf_adjustment_weight", 1.0)
            levels.append(level)
        comps.append({"output_column_name": c.get("output_column_name"),
                      "comparison_levels": levels})
    return {
        "probability_two_random_records_match": model.get("probability_two_random_records_match"),
        "comparisons": comps,
    }


# --- main ------------------------------------------------------------------------------


def parse_args(argv):
    ap = argparse.ArgumentParser(
        description="Splink 5 / DuckDB peer run of hedui's linkage benchmark.")
    ap.add_argument("--left", required=True, help="left input Parquet file")
    ap.add_argument("--right", help="right input Parquet file (required for --mode link; "
                    "with --mode dedupe it is appended to --left and deduplicated with it)")
    ap.add_argument("--out-json", required=True, help="where to write the metrics JSON")
    ap.add_argument("--threshold", type=float, default=0.5,
                    help="match probability threshold for predicted pairs (default 0.5)")
    ap.add_argument("--mode", choices=["link", "dedupe"], default="link")
    ap.add_argument("--threads", type=int, default=2, help="DuckDB threads (default 2)")
    ap.add_argument("--memory-limit", default=None,
                    help="DuckDB memory_limit, e.g. 8GB (default: DuckDB's, 80%% of RAM)")
    ap.add_argument("--recall", type=float, default=0.8,
                    help="assumed recall of the exact-id_number rule when estimating the "
                         "prior match probability (default 0.8)")
    ap.add_argument("--u-max-pairs", type=float, default=1e7,
                    help="pairs sampled by estimate_u_using_random_sampling (default 1e7)")
    ap.add_argument("--seed", type=int, default=42,
                    help="seed for u sampling (default 42; negative: unseeded, which Splink "
                         "says is faster but not reproducible)")
    ap.add_argument("--name-jw", choices=["chars", "bytes"], default="chars",
                    help="Jaro-Winkler on name per character (hedui, default) or per UTF-8 "
                         "byte (DuckDB's built-in as is)")
    ap.add_argument("--model-json", help="also save the full trained Splink model here")
    ap.add_argument("--pairs-out", help="also write the predicted pairs ([source_dataset_l,] "
                    "unique_id_l, [source_dataset_r,] unique_id_r, match_weight, "
                    "match_probability) to this Parquet file, e.g. to diff them against hedui's")
    ap.add_argument("--verbose", action="store_true", help="Splink INFO logging")
    args = ap.parse_args(argv)
    if args.mode == "link" and not args.right:
        ap.error("--mode link needs --right")
    if not 0.0 <= args.threshold <= 1.0:
        ap.error("--threshold must be in [0, 1]")
    if args.threads < 1:
        ap.error("--threads must be >= 1")
    if not 0.0 < args.recall <= 1.0:
        ap.error("--recall must be in (0, 1]")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    log.setLevel(logging.INFO)

    timings: dict[str, float] = {}
    rss: dict[str, float] = {}

    def phase_done(name: str, t0: float) -> float:
        timings[name] = round(time.perf_counter() - t0, 3)
        rss[name] = round(maxrss_mib(), 1)
        log.info("%-9s %8.2fs  maxrss %8.1f MiB", name, timings[name], rss[name])
        return time.perf_counter()

    # -- import ---------------------------------------------------------------------
    t = T_START
    import duckdb
    import splink
    from splink import DuckDBAPI, Linker, block_on
    from splink.internals.exceptions import EMTrainingException
    t = phase_done("import", t)

    tmpdir = tempfile.mkdtemp(prefix="hedui-splink-")
    try:
        # -- load -----------------------------------------------------------------------
        con = duckdb.connect(":memory:")
        con.execute(f"SET threads = {int(args.threads)}")
        con.execute(f"SET temp_directory = {sql_str(tmpdir)}")  # never spill into the cwd
        if args.memory_limit:
            con.execute(f"SET memory_limit = {sql_str(args.memory_limit)}")
        counts = load(con, args)
        db_api = DuckDBAPI(connection=con)
        if args.mode == "link":
            inputs = [db_api.register("input_left", dataset_display_name="left"),
                      db_api.register("input_right", dataset_display_name="right")]
            link_type = "link_only"
        else:
            inputs = db_api.register("input_all", dataset_display_name="all")
            link_type = "dedupe_only"
        settings = build_settings(link_type, args.name_jw)
        linker = Linker(inputs, settings,
                        log_level=logging.INFO if args.verbose else logging.WARNING)
        t = phase_done("load", t)

        # -- training -------------------------------------------------------------------
        detail: dict[str, float] = {}
        t_train = t
        linker.training.estimate_probability_two_random_records_match(
            [block_on("id_number")], recall=args.recall)
        prior_floored = False
        if not linker._settings_obj._probability_two_random_records_match > 0:
            # No pair agrees on id_number (e.g. dedupe of a file without repeats): Splink
            # sets the prior to 0 and EM then fails on log2(0). Floor it at one match in
            # all possible pairs; reported in the metrics.
            n_l, n_r = counts["left_rows"], counts["right_rows"]
            total = n_l * n_r if args.mode == "link" else (n_l + n_r) * (n_l + n_r - 1) / 2
            linker._settings_obj._probability_two_random_records_match = 1.0 / max(total, 1)
            prior_floored = True
            log.warning("no exact id_number agreement: prior floored at 1/%d", total)
        detail["prior_from_exact_id"] = round(time.perf_counter() - t, 3)
        t = time.perf_counter()
        linker.training.estimate_u_using_random_sampling(
            max_pairs=args.u_max_pairs, seed=args.seed if args.seed >= 0 else None)
        detail["u_random_sampling"] = round(time.perf_counter() - t, 3)
        # The same two EM sessions as hedui's engine: pairs agreeing on the ID number, and
        # pairs agreeing on the name's pinyin and the birth date.
        em_rules = [("id_number",), ("name_pinyin", "birth_date")]
        em_failed: list[str] = []
        for cols in em_rules:
            label = "+".join(cols)
            t = time.perf_counter()
            try:
                linker.training.estimate_parameters_using_expectation_maximisation(
                    block_on(*cols))
            except EMTrainingException as e:  # e.g. the rule yields no pairs at all
                em_failed.append(label)
                log.warning("EM blocked on %s failed: %s", label, str(e).splitlines()[0])
            detail[f"em_block_on_{label}"] = round(time.perf_counter() - t, 3)
        t = phase_done("training", t_train)
        timings["training_detail"] = detail  # type: ignore[assignment]

        # -- predict (blocking + scoring) -----------------------------------------------
        t_pred = t
        blocked = linker.inference.compute_blocked_pairs_for_predict()
        by_rule = dict(con.execute(
            f"SELECT CAST(match_key AS INTEGER), count(*) FROM {blocked.physical_name} "
            "GROUP BY 1 ORDER BY 1").fetchall())
        candidate_pairs = sum(by_rule.values())
        timings["blocking"] = round(time.perf_counter() - t, 3)
        t = time.perf_counter()
        predictions = linker.inference.predict(threshold_match_probability=args.threshold)
        timings["scoring"] = round(time.perf_counter() - t, 3)
        t = phase_done("predict", t_pred)

        # -- evaluate -------------------------------------------------------------------
        quality = evaluate(con, args, predictions.physical_name, blocked.physical_name)
        t = phase_done("evaluate", t)

        params = trained_parameters(linker)
        timings["total"] = round(time.perf_counter() - T_START, 3)

        # -- optional outputs (not timed) ---------------------------------------------
        if args.model_json:
            linker.misc.save_model_to_json(args.model_json, overwrite=True)
        if args.pairs_out:
            ids = ("source_dataset_l, unique_id_l, source_dataset_r, unique_id_r"
                   if args.mode == "link" else "unique_id_l, unique_id_r")
            con.execute(f"""
                COPY (SELECT {ids}, match_weight, match_probability
                      FROM {predictions.physical_name}
                      WHERE match_probability >= {float(args.threshold)!r}
                      ORDER BY ALL)
                TO {sql_str(args.pairs_out)} (FORMAT parquet)""")

        metrics = {
            "tool": "splink",
            "splink_version": getattr(splink, "__version__", None) or version("splink"),
            "duckdb_version": duckdb.__version__,
            "python_version": platform.python_version(),
            "mode": args.mode,
            "link_type": link_type,
            "threshold": args.threshold,
            "threads": args.threads,
            "memory_limit": con.execute("SELECT current_setting('memory_limit')").fetchone()[0],
            "inputs": {"left": os.path.abspath(args.left),
                       "right": os.path.abspath(args.right) if args.right else None,
                       **counts},
            "model": {
                "blocking_rules": [br.blocking_rule_sql for br in
                                   linker._settings_obj._blocking_rules_to_generate_predictions],
                "prior_rule": "l.id_number = r.id_number",
                "prior_recall": args.recall,
                "prior_floored": prior_floored,
                "u_max_pairs": args.u_max_pairs,
                "u_seed": args.seed if args.seed >= 0 else None,
                "em_blocking_rules": [" AND ".join(f"l.{c} = r.{c}" for c in cols) for cols in em_rules],
                "em_failed": [f"l.{c} = r.{c}" for c in em_failed],
                "name_jaro_winkler": args.name_jw,
            },
            "timings_s": timings,
            "peak_memory_mib": round(maxrss_mib(), 1),
            "maxrss_mib_after_phase": rss,
            "candidate_pairs": int(candidate_pairs),
            # pairs each blocking rule added that no earlier rule had (Splink's match_key)
            "candidate_pairs_by_rule": [
                {"rule": br.blocking_rule_sql, "new_pairs": int(by_rule.get(i, 0))}
                for i, br in enumerate(
                    linker._settings_obj._blocking_rules_to_generate_predictions)],
            **quality,
            "parameters": params,
        }
        with open(args.out_json, "w", encoding="utf-8") as f:
            json.dump(metrics, f, indent=2, ensure_ascii=False)
            f.write("\n")

        def fmt(x):
            return "n/a" if x is None else f"{x:.4f}"

        shape = (f"{counts['left_rows']} x {counts['right_rows']}" if args.mode == "link"
                 else f"{counts['left_rows'] + counts['right_rows']}")
        print(f"splink {metrics['splink_version']} / duckdb {metrics['duckdb_version']}, "
              f"{args.mode}, {shape} rows, threads {args.threads}")
        print(f"time: load {timings['load']}s, training {timings['training']}s, "
              f"predict {timings['predict']}s (blocking {timings['blocking']}s), "
              f"evaluate {timings['evaluate']}s, total {timings['total']}s")
        print(f"peak memory {metrics['peak_memory_mib']} MiB")
        print(f"pairs: candidates {candidate_pairs}, predicted {quality['predicted_pairs']}, "
              f"true {quality['true_pairs']}; TP {quality['tp']} FP {quality['fp']} "
              f"FN {quality['fn']}")
        print(f"precision {fmt(quality['precision'])} recall {fmt(quality['recall'])} "
              f"F1 {fmt(quality['f1'])} (blocking recall {fmt(quality['blocking_recall'])})")
        print(f"metrics written to {args.out_json}")
        con.close()
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
