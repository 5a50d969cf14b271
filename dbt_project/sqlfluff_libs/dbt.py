"""Stand-in for dbt's cross-database macros (dbt.dateadd, dbt.type_*) when sqlfluff renders the models.

Loaded only by sqlfluff's jinja templater (see ../.sqlfluff), never imported next to the real dbt package.
"""


def type_numeric():
    return "numeric"


def type_string():
    return "text"


def type_timestamp():
    return "timestamp"


def dateadd(datepart, interval, from_date_or_timestamp):
    return f"({from_date_or_timestamp} + ({interval}) * interval '1 {datepart}')"


def datediff(first_date, second_date, datepart):
    return f"date_diff('{datepart}', {first_date}, {second_date})"


def date_trunc(datepart, date):
    return f"date_trunc('{datepart}', {date})"
