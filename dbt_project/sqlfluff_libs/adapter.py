"""Stand-in for dbt's `adapter` when sqlfluff renders the models without a database.

A dispatched macro renders as a call of the same name: SQL that parses, enough to lint the model around it.
"""


def dispatch(macro_name, macro_namespace=None):
    return lambda *args: f"{macro_name}({', '.join(str(a) for a in args)})"


def quote(identifier):
    return f'"{identifier}"'
