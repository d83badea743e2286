#!/usr/bin/env python3
"""bench/ml: Brook's in-SQL models vs scikit-learn, same data, same run.

1. Speed dating (data/speed_dating.csv.gz): waves 1-14 train, waves 15-21 are
   held out (the demo's time split). Both sides use the same preprocessing
   (mean imputation + standardisation of numbers, one-hot of text with
   unknown -> zeros), logistic regression with the same L2 penalty
   (Brook l2_reg = 1 / scikit-learn C = 1), balanced class weights and at
   most 100 L-BFGS iterations. Reported: training time (Brook's own
   training_seconds, and the CREATE MODEL statement end to end) against
   scikit-learn's Pipeline.fit, and ROC AUC on the held-out waves.
2. PREDICT throughput: a --rows-row table of 40 numeric features; Brook
   scores every row with PREDICT_PROBA inside one query (through psql),
   scikit-learn runs predict_proba of the same fitted pipeline on the same
   rows already in memory (numpy).

    python3 bench/ml/run.py --rows 1000000
"""
import argparse
import csv
import gzip
import io
import math
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psycopg
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ports import free_port, wait_port  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
NUMERIC = [
    "attr_o", "sinc_o", "intel_o", "fun_o", "amb_o", "shar_o", "like_o", "prob_o", "met_o",
    "attr", "sinc", "intel", "fun", "amb", "shar", "like", "prob", "met",
    "attr1_1", "sinc1_1", "intel1_1", "fun1_1", "amb1_1", "shar1_1",
    "pf_o_att", "pf_o_sin", "pf_o_int", "pf_o_fun", "pf_o_amb", "pf_o_sha",
    "age", "age_o", "int_corr", "samerace",
]
TEXT = ["race", "race_o", "field_cd", "gender"]


def number(cell):
    cell = cell.strip().replace(",", "")
    if not cell:
        return None
    try:
        v = float(cell)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def load_speed_dating():
    with gzip.open(ROOT / "data" / "speed_dating.csv.gz", "rt", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    out = []
    for r in rows:
        if not r["wave"].strip() or not r["match"].strip():
            continue  # the trailing row of empty cells
        out.append({
            "wave": int(r["wave"]),
            "match": int(r["match"]),
            **{c: number(r[c]) for c in NUMERIC},
            **{c: (r[c].strip() or None) for c in TEXT},
        })
    return out


def sql_value(v):
    if v is None:
        return "NULL"
    if isinstance(v, str):
        return "'" + v.replace("'", "''") + "'"
    return repr(v)


def insert(conn, table, columns, rows):
    for start in range(0, len(rows), 1000):
        chunk = rows[start:start + 1000]
        values = ", ".join("(" + ", ".join(sql_value(r[c]) for c in columns) + ")" for r in chunk)
        conn.execute(f"INSERT INTO {table} ({', '.join(columns)}) VALUES {values}")


def sklearn_pipeline(numeric, text):
    pre = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="mean"), StandardScaler()), numeric),
        ("txt", OneHotEncoder(handle_unknown="ignore"), text),
    ]) if text else make_pipeline(SimpleImputer(strategy="mean"), StandardScaler())
    return make_pipeline(pre, LogisticRegression(C=1.0, class_weight="balanced", max_iter=100, solver="lbfgs"))


def speed_dating(conn):
    rows = load_speed_dating()
    columns = ["wave", "match"] + NUMERIC + TEXT
    types = {"wave": "int", "match": "int", **{c: "double precision" for c in NUMERIC}, **{c: "text" for c in TEXT}}
    conn.execute("CREATE TABLE dating (" + ", ".join(f"{c} {types[c]}" for c in columns) + ")")
    # Text columns hold category codes ('2', '1'): stored as text, one-hot encoded by both.
    for r in rows:
        for c in TEXT:
            if r[c] is not None:
                r[c] = str(int(float(r[c])))
    insert(conn, "dating", columns, rows)
    features = NUMERIC + TEXT
    train = [r for r in rows if r["wave"] <= 14]
    test = [r for r in rows if r["wave"] > 14]

    started = time.perf_counter()
    conn.execute(
        "CREATE MODEL dating_model OPTIONS (model_type = 'logistic_reg', input_label_cols = ['match'], "
        "data_split_method = 'no_split', class_weight = 'balanced', l2_reg = 1.0, max_iterations = 100) "
        f"AS SELECT {', '.join(features)}, match FROM dating WHERE wave <= 14"
    )
    brook_statement_s = time.perf_counter() - started
    brook_train_s = conn.execute(
        "SELECT training_seconds FROM information_schema.models WHERE model_name = 'dating_model'"
    ).fetchone()[0]
    brook_auc = conn.execute(
        "SELECT roc_auc FROM EVALUATE('dating_model', "
        f"'SELECT {', '.join(features)}, match FROM dating WHERE wave > 14')"
    ).fetchone()[0]

    def matrix(part):
        x = np.empty((len(part), len(features)), dtype=object)
        for i, r in enumerate(part):
            for j, c in enumerate(features):
                v = r[c]
                x[i, j] = (np.nan if v is None else v) if c in NUMERIC else ("" if v is None else v)
        return x

    import pandas as pd  # noqa: E402  (ColumnTransformer by column name)
    x_train = pd.DataFrame(matrix(train), columns=features)
    x_test = pd.DataFrame(matrix(test), columns=features)
    for c in NUMERIC:
        x_train[c] = x_train[c].astype(float)
        x_test[c] = x_test[c].astype(float)
    y_train = np.array([r["match"] for r in train])
    y_test = np.array([r["match"] for r in test])
    # scikit-learn leaves NULL text as its own category, Brook as all zeros:
    # map missing text to "" on both sides of scikit-learn's encoder only.
    model = sklearn_pipeline(NUMERIC, TEXT)
    fits = []
    for _ in range(5):
        started = time.perf_counter()
        model.fit(x_train, y_train)
        fits.append(time.perf_counter() - started)
    sk_train_s = sorted(fits)[len(fits) // 2]
    sk_auc = roc_auc_score(y_test, model.predict_proba(x_test)[:, 1])
    return {
        "train_rows": len(train), "test_rows": len(test), "features": len(features),
        "brook_train_s": brook_train_s, "brook_statement_s": brook_statement_s, "sk_train_s": sk_train_s,
        "brook_auc": brook_auc, "sk_auc": sk_auc,
    }


def predict_throughput(conn, port, rows, repeat):
    cols = [f"f{i}" for i in range(1, 41)]
    # Synthetic rows, generated in SQL so they need not cross the wire:
    # feature i is a hash-like function of the row number.
    exprs = ", ".join(f"CAST(((value * {7919 + 104 * i}) % 1000) AS double precision) / 100.0 AS f{i}" for i in range(1, 41))
    label = " + ".join(f"f{i}" for i in range(1, 21)) + " > " + " + ".join(f"f{i}" for i in range(21, 41))
    conn.execute(f"CREATE TABLE synth AS SELECT {exprs} FROM generate_series(1, {rows})")
    conn.execute(f"CREATE TABLE synth_train AS SELECT *, {label} AS label FROM synth LIMIT 100000")
    conn.execute(
        "CREATE MODEL wide OPTIONS (model_type = 'logistic_reg', input_label_cols = ['label'], "
        f"data_split_method = 'no_split', l2_reg = 1.0) AS SELECT {', '.join(cols)}, label FROM synth_train"
    )
    query = f"SELECT sum(PREDICT_PROBA('wide', {', '.join(cols)})) FROM synth"
    brook_ms = []
    for _ in range(repeat + 1):
        out = subprocess.run(
            ["psql", "-X", "-h", "127.0.0.1", "-p", str(port), "-U", "brook", "-d", "brook", "-At",
             "-c", "\\timing on", "-c", query], capture_output=True, text=True, check=True).stdout
        brook_ms.append(float(re.findall(r"^Time: ([0-9.]+) ms", out, re.M)[-1]))
    brook_s = sorted(brook_ms[1:])[len(brook_ms[1:]) // 2] / 1000.0
    # The same rows and the same fitted model, in scikit-learn.
    x = np.column_stack([((np.arange(1, rows + 1, dtype=np.int64) * (7919 + 104 * i)) % 1000) / 100.0 for i in range(1, 41)])
    y = x[:100_000, :20].sum(axis=1) > x[:100_000, 20:].sum(axis=1)
    model = make_pipeline(SimpleImputer(strategy="mean"), StandardScaler(),
                          LogisticRegression(C=1.0, max_iter=100)).fit(x[:100_000], y)
    sk = []
    for _ in range(repeat + 1):
        started = time.perf_counter()
        model.predict_proba(x)[:, 1].sum()
        sk.append(time.perf_counter() - started)
    sk_s = sorted(sk[1:])[len(sk[1:]) // 2]
    return {"rows": rows, "brook_s": brook_s, "sk_s": sk_s}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--brook", help="a brook binary to use instead of building the release one")
    args = ap.parse_args()
    if args.brook:
        brook_bin = Path(args.brook)
    else:
        target = Path(subprocess.run(["cargo", "metadata", "--format-version", "1", "--no-deps"], cwd=ROOT,
                                     capture_output=True, text=True, check=True).stdout.split('"target_directory":"')[1].split('"')[0])
        subprocess.run(["cargo", "build", "--release", "--bin", "brook"], cwd=ROOT, check=True)
        brook_bin = target / "release" / "brook"
    work = Path(tempfile.mkdtemp(prefix="brook-bench-ml-"))
    port = free_port()
    brook = subprocess.Popen([str(brook_bin), "serve", "--listen", f"127.0.0.1:{port}",
                              "--data-dir", str(work / "data")], stdout=subprocess.DEVNULL,
                             stderr=open(work / "brook.log", "w"))
    try:
        wait_port(port, "brook")
        with psycopg.connect(f"host=127.0.0.1 port={port} user=brook dbname=brook", autocommit=True) as conn:
            d = speed_dating(conn)
            p = predict_throughput(conn, port, args.rows, args.repeat)
    finally:
        brook.terminate()
        brook.wait()
        shutil.rmtree(work, ignore_errors=True)
    print(f"## Speed dating: logistic regression, waves 1-14 -> 15-21 ({d['train_rows']} / {d['test_rows']} rows, {d['features']} features)")
    print("| | Brook | scikit-learn | ratio |")
    print("| --- | --- | --- | --- |")
    print(f"| training time (s) | {d['brook_train_s']:.3f} (statement {d['brook_statement_s']:.3f}) | {d['sk_train_s']:.3f} | "
          f"{d['brook_train_s'] / d['sk_train_s']:.2f}× |")
    print(f"| ROC AUC on waves 15-21 | {d['brook_auc']:.4f} | {d['sk_auc']:.4f} | Δ {d['brook_auc'] - d['sk_auc']:+.4f} |")
    print()
    print(f"## PREDICT_PROBA over {p['rows']:,} rows x 40 features")
    print("| | Brook (psql, one query) | scikit-learn predict_proba | ratio |")
    print("| --- | --- | --- | --- |")
    print(f"| rows/s | {p['rows'] / p['brook_s']:,.0f} | {p['rows'] / p['sk_s']:,.0f} | {p['sk_s'] / p['brook_s']:.2f}× |")


if __name__ == "__main__":
    main()
