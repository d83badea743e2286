"""pgcli's completion, as its background refresher builds it, against the
server at host/port/user/db (argv): every refresher pgcli runs after
connecting, then the completions it offers for a few half-typed
statements. Prints one line per step; exits non-zero if a refresher
failed (pgcli then shows no completions at all)."""
import sys

from pgspecial.main import PGSpecial
from prompt_toolkit.document import Document
from pgcli.completion_refresher import CompletionRefresher
from pgcli.pgcompleter import PGCompleter
from pgcli.pgexecute import PGExecute

host, port, user, db = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
executor = PGExecute(db, user, None, host, port, None)
completer = PGCompleter(smart_completion=True, pgspecial=PGSpecial(), settings={})
failed = False
for name, refresh in CompletionRefresher.refreshers.items():
    try:
        refresh(completer, executor)
        print(f"ok {name}")
    except Exception as e:  # pgcli's thread dies on the first one
        failed = True
        print(f"FAIL {name}: {str(e).splitlines()[0]}")


def offered(text, cursor=None):
    document = Document(text, cursor_position=len(text) if cursor is None else cursor)
    return sorted({c.text for c in completer.get_completions(document, None)})


print("tables:", [t for t in offered("SELECT * FROM ") if t.startswith("compl")])
print("columns:", [c for c in offered("SELECT  FROM completion_t", 7) if c in ("code", "city")])
print("schemas:", [s for s in offered("SELECT * FROM ") if s in ("public", "pg_catalog")])
sys.exit(1 if failed else 0)
