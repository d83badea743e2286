"""EVALUATE's metrics, checked against scikit-learn on the same predictions.

Run by tests/it/ml.rs with a libpq connection string; exits non-zero (with the
differences) when a metric disagrees.
"""

import math
import sys

import numpy as np
import psycopg
from sklearn import metrics as skm


def rows_sql(table, rows):
    def num(v):
        return "NULL" if v is None else repr(float(v))

    values = ", ".join(
        "(" + ", ".join(num(v) for v in features) + f", {bool(label)}, {num(target)})"
        for features, label, target in rows
    )
    return f"INSERT INTO {table} VALUES {values}"


def make(rng, n):
    """(features with some NULLs in f4, boolean label, numeric target) rows."""
    x = rng.normal(size=(n, 4))
    logit = 1.5 * x[:, 0] - 2.0 * x[:, 1] + 0.5 * x[:, 2] + rng.normal(scale=1.0, size=n)
    target = 2.0 * x[:, 0] - x[:, 1] + 0.5 * x[:, 2] + rng.normal(scale=0.3, size=n)
    out = []
    for i in range(n):
        features = list(x[i])
        if i % 17 == 0:
            features[3] = None
        out.append((features, logit[i] > 0.3, target[i]))
    return out


def main():
    rng = np.random.default_rng(1)
    failures = []
    with psycopg.connect(sys.argv[1], autocommit=True) as conn:
        for table, n in (("train", 2000), ("holdout", 600)):
            conn.execute(
                f"CREATE TABLE {table} (f1 double precision, f2 double precision, f3 double precision, "
                "f4 double precision, label boolean, target double precision)"
            )
            data = make(rng, n)
            for start in range(0, n, 500):
                conn.execute(rows_sql(table, data[start : start + 500]))

        def check(name, ours, theirs, tol=1e-9):
            if ours is None or not math.isclose(ours, theirs, rel_tol=tol, abs_tol=tol):
                failures.append(f"{name}: brook {ours} vs scikit-learn {theirs}")

        for model_type in ("logistic_reg", "decision_tree", "naive_bayes"):
            conn.execute(
                f"CREATE MODEL m_{model_type} OPTIONS (model_type = '{model_type}', "
                "input_label_cols = ['label'], max_depth = 4) AS SELECT f1, f2, f3, f4, label FROM train"
            )
            rows = conn.execute(
                f"SELECT PREDICT_PROBA('m_{model_type}', f1, f2, f3, f4), "
                f"PREDICT('m_{model_type}', f1, f2, f3, f4), label FROM holdout"
            ).fetchall()
            proba = np.array([r[0] for r in rows])
            predicted = np.array([r[1] for r in rows])
            actual = np.array([r[2] for r in rows])
            cur = conn.execute(
                f"SELECT precision, recall, accuracy, f1_score, log_loss, roc_auc, rows "
                f"FROM EVALUATE('m_{model_type}', 'SELECT * FROM holdout')"
            )
            ev = cur.fetchone()
            check(f"{model_type} predict = proba >= 0.5", float((predicted == (proba >= 0.5)).mean()), 1.0)
            check(f"{model_type} precision", ev[0], skm.precision_score(actual, predicted))
            check(f"{model_type} recall", ev[1], skm.recall_score(actual, predicted))
            check(f"{model_type} accuracy", ev[2], skm.accuracy_score(actual, predicted))
            check(f"{model_type} f1", ev[3], skm.f1_score(actual, predicted))
            check(f"{model_type} log_loss", ev[4], skm.log_loss(actual, np.clip(proba, 1e-15, 1 - 1e-15)))
            check(f"{model_type} roc_auc", ev[5], skm.roc_auc_score(actual, proba))
            check(f"{model_type} rows", ev[6], len(rows))
            cm = conn.execute(
                f"SELECT expected_label, \"false\", \"true\" FROM CONFUSION_MATRIX('m_{model_type}', "
                "'SELECT * FROM holdout') ORDER BY expected_label"
            ).fetchall()
            ours = [[r[1], r[2]] for r in cm]
            theirs = skm.confusion_matrix(actual, predicted).tolist()
            if ours != theirs:
                failures.append(f"{model_type} confusion: brook {ours} vs scikit-learn {theirs}")

        # The held-out split: stratified by default, 20 % of 2000 rows.
        held = conn.execute(
            "SELECT rows, evaluated_on FROM EVALUATE('m_logistic_reg')"
        ).fetchone()
        if held != (400, "holdout"):
            failures.append(f"holdout split: {held}")

        conn.execute(
            "CREATE MODEL reg OPTIONS (model_type = 'linear_reg', input_label_cols = ['target']) "
            "AS SELECT f1, f2, f3, target FROM train"
        )
        rows = conn.execute("SELECT PREDICT('reg', f1, f2, f3), target FROM holdout").fetchall()
        predicted = np.array([r[0] for r in rows])
        actual = np.array([r[1] for r in rows])
        ev = conn.execute(
            "SELECT mean_absolute_error, mean_squared_error, root_mean_squared_error, r2_score "
            "FROM EVALUATE('reg', 'SELECT * FROM holdout')"
        ).fetchone()
        check("mae", ev[0], skm.mean_absolute_error(actual, predicted))
        check("mse", ev[1], skm.mean_squared_error(actual, predicted))
        check("rmse", ev[2], math.sqrt(skm.mean_squared_error(actual, predicted)))
        check("r2", ev[3], skm.r2_score(actual, predicted))

    if failures:
        print("\n".join(failures))
        sys.exit(1)
    print("all metrics agree with scikit-learn")


if __name__ == "__main__":
    main()
