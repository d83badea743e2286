"""SQLAlchemy 2 (postgresql+psycopg) and pandas against a live Brook, as their
users drive them: create_engine, inspect(), table reflection, an ORM select,
read_sql and DataFrame.to_sql. Each step asserts what the user would see and
prints `ok <step>`; the first failure raises with the server's message."""

import math
import sys

import pandas as pd
import sqlalchemy as sa
from sqlalchemy import orm

url = sys.argv[1]
engine = sa.create_engine(url)


def ok(step):
    print("ok", step, flush=True)


with engine.begin() as conn:
    conn.execute(sa.text(
        "CREATE TABLE people (id bigint NOT NULL PRIMARY KEY, name text, "
        "score double precision DEFAULT 0, born date)"))
    conn.execute(sa.text(
        "INSERT INTO people VALUES (1, 'ada', 9.5, '1815-12-10'), "
        "(2, 'grace', 8, '1906-12-09'), (3, 'edsger', NULL, '1930-05-11')"))
ok("create")

inspector = sa.inspect(engine)
assert inspector.get_table_names() == ["people"], inspector.get_table_names()
assert inspector.get_view_names() == [], inspector.get_view_names()
assert "public" in inspector.get_schema_names(), inspector.get_schema_names()
assert inspector.has_table("people") and not inspector.has_table("nobody")
ok("table_names")

columns = {c["name"]: c for c in inspector.get_columns("people")}
assert list(columns) == ["id", "name", "score", "born"], list(columns)
assert isinstance(columns["id"]["type"], sa.BigInteger), columns["id"]
assert isinstance(columns["name"]["type"], sa.Text), columns["name"]
assert isinstance(columns["score"]["type"], sa.Float), columns["score"]
assert isinstance(columns["born"]["type"], sa.Date), columns["born"]
assert columns["id"]["nullable"] is False and columns["name"]["nullable"] is True
assert columns["score"]["default"] == "0", columns["score"]
assert columns["name"]["default"] is None
ok("get_columns")

pk = inspector.get_pk_constraint("people")
assert pk["constrained_columns"] == ["id"] and pk["name"] == "people_pkey", pk
assert inspector.get_foreign_keys("people") == []
assert inspector.get_indexes("people") == []
assert inspector.get_unique_constraints("people") == []
ok("get_pk_constraint")

people = sa.Table("people", sa.MetaData(), autoload_with=engine)
assert [c.name for c in people.primary_key.columns] == ["id"]
assert people.c.score.server_default is not None
with engine.connect() as conn:
    rows = conn.execute(
        sa.select(people.c.name).where(people.c.score > 8.5)).all()
assert [r.name for r in rows] == ["ada"], rows
ok("reflection")


class Base(orm.DeclarativeBase):
    pass


class Person(Base):
    __tablename__ = "people"
    id = sa.Column(sa.BigInteger, primary_key=True)
    name = sa.Column(sa.Text)
    score = sa.Column(sa.Float)


with orm.Session(engine) as session:
    named = session.scalars(
        sa.select(Person).where(Person.score.is_not(None)).order_by(Person.id)).all()
    assert [(p.id, p.name) for p in named] == [(1, "ada"), (2, "grace")]
    assert session.get(Person, 3).name == "edsger"
    session.add(Person(id=4, name="barbara", score=7.0))
    session.commit()
    assert session.scalar(sa.select(sa.func.count()).select_from(Person)) == 4
ok("orm")

frame = pd.read_sql(
    sa.text("SELECT id, name, score, born FROM people WHERE id <= :n ORDER BY id"),
    engine, params={"n": 3})
assert list(frame["name"]) == ["ada", "grace", "edsger"], frame
assert frame["score"].tolist()[:2] == [9.5, 8.0] and math.isnan(frame["score"][2])
ok("read_sql")

scores = pd.DataFrame({
    "player": ["a", "b", None],
    "points": [10, 20, 30],
    "ratio": [0.5, None, 1.5],
    "seen": pd.to_datetime(["2024-01-01 10:00", "2024-01-02 11:30", "2024-01-03 12:45"]),
})
scores.to_sql("scores", engine, index=False)
back = pd.read_sql_table("scores", engine).sort_values("points").reset_index(drop=True)
assert back["points"].tolist() == [10, 20, 30], back
assert back["player"].tolist()[:2] == ["a", "b"] and back["player"].isna().tolist()[2]
assert back["seen"].tolist() == scores["seen"].tolist(), back["seen"]
scores.to_sql("scores", engine, index=False, if_exists="append")
assert pd.read_sql("SELECT count(*) AS n FROM scores", engine)["n"][0] == 6
scores.head(1).to_sql("scores", engine, index=False, if_exists="replace")
assert pd.read_sql("SELECT count(*) AS n FROM scores", engine)["n"][0] == 1
ok("to_sql")
