"""Alembic (SQLAlchemy 2, psycopg 3) against a live server, as a team's
migrations drive it: three revisions (create a table, add a column, rename
a column) upgraded to head, downgraded to base and upgraded again, each in
Alembic's one transaction per run. Run against Brook and against PostgreSQL
with the same argument, a URL (postgresql+psycopg://…). Prints `ok <step>`;
the first failure raises with the server's message."""

import pathlib
import sys
import tempfile

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

url = sys.argv[1]

ENV = '''
from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config
engine = engine_from_config(
    config.get_section(config.config_ini_section), prefix="sqlalchemy.", poolclass=pool.NullPool
)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()
'''

REVISIONS = {
    "001_create": '''
revision = "001"
down_revision = None
from alembic import op
import sqlalchemy as sa

def upgrade():
    op.create_table(
        "products",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(50), nullable=False),
    )
    op.execute("INSERT INTO products (id, name) VALUES (1, 'lamp'), (2, 'desk')")

def downgrade():
    op.drop_table("products")
''',
    "002_price": '''
revision = "002"
down_revision = "001"
from alembic import op
import sqlalchemy as sa

def upgrade():
    op.add_column("products", sa.Column("price", sa.Numeric(10, 2), server_default="9.99"))
    op.add_column("products", sa.Column("note", sa.Text))

def downgrade():
    op.drop_column("products", "note")
    op.drop_column("products", "price")
''',
    "003_rename": '''
revision = "003"
down_revision = "002"
from alembic import op
import sqlalchemy as sa

def upgrade():
    op.alter_column("products", "name", new_column_name="title")
    op.alter_column("products", "note", nullable=True, server_default="none")
    op.alter_column("products", "title", type_=sa.String(80))

def downgrade():
    op.alter_column("products", "title", type_=sa.String(50))
    op.alter_column("products", "note", server_default=None)
    op.alter_column("products", "title", new_column_name="name")
''',
}


def ok(step):
    print("ok", step, flush=True)


def columns(engine):
    inspector = sa.inspect(engine)
    if not inspector.has_table("products"):
        return None
    return [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns("products")]


def rows(engine, sql):
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql))]


with tempfile.TemporaryDirectory() as scripts:
    root = pathlib.Path(scripts)
    (root / "env.py").write_text(ENV)
    (root / "versions").mkdir()
    for name, text in REVISIONS.items():
        (root / "versions" / f"{name}.py").write_text(text)
    config = Config()
    config.set_main_option("script_location", str(root))
    config.set_main_option("sqlalchemy.url", url)
    engine = sa.create_engine(url)

    command.upgrade(config, "head")
    assert rows(engine, "SELECT version_num FROM alembic_version") == [("003",)]
    assert columns(engine) == [
        ("id", "INTEGER", False),
        ("title", "VARCHAR(80)", False),
        ("price", "NUMERIC(10, 2)", True),
        ("note", "TEXT", True),
    ], columns(engine)
    assert rows(engine, "SELECT id, title, price, note FROM products ORDER BY id") == [
        (1, "lamp", __import__("decimal").Decimal("9.99"), None),
        (2, "desk", __import__("decimal").Decimal("9.99"), None),
    ], rows(engine, "SELECT * FROM products")
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO products (id, title) VALUES (3, 'chair')"))
    assert rows(engine, "SELECT note FROM products WHERE id = 3") == [("none",)]
    ok("upgrade")

    command.downgrade(config, "001")
    assert columns(engine) == [("id", "INTEGER", False), ("name", "VARCHAR(50)", False)], columns(engine)
    assert rows(engine, "SELECT id, name FROM products ORDER BY id") == [
        (1, "lamp"), (2, "desk"), (3, "chair")
    ]
    assert rows(engine, "SELECT version_num FROM alembic_version") == [("001",)]
    ok("downgrade")

    command.downgrade(config, "base")
    assert columns(engine) is None
    assert rows(engine, "SELECT count(*) FROM alembic_version") == [(0,)]
    ok("base")

    command.upgrade(config, "head")
    assert rows(engine, "SELECT count(*) FROM products") == [(2,)]
    ok("again")
    command.downgrade(config, "base")
    engine.dispose()
