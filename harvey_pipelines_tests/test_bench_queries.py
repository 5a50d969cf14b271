"""The dbt benchmark times the README's analyst example queries as the README shows them: it
parses them from README.md, so this checks that the parse still finds all ten (a README edit
that breaks the parse, or a benchmark value that no query uses any more, fails here)."""

from harvey_pipelines_tests.bench.dbt_benchmark import README_TO_BENCH, ROOT, bench_sql, readme_queries


def test_the_benchmark_runs_the_readme_queries_verbatim():
    readme = (ROOT / "README.md").read_text()
    queries = readme_queries(readme)
    assert [q["number"] for q in queries] == list(range(1, 11))
    for q in queries:
        assert q["sql"].lower().startswith("select"), q
        assert q["sql"] in readme, q  # exactly as the README shows it
    assert "as-of query above" in queries[9]["question"]
    assert "from marts.employee_history" in queries[9]["sql"]


def test_only_the_documented_values_are_replaced():
    queries = readme_queries()
    for readme_value in README_TO_BENCH:
        assert any(readme_value in q["sql"] for q in queries), f"no README query has {readme_value} any more"
    for q in queries:
        sql = bench_sql(q["sql"])
        assert "acme" not in sql and "'bench-dbt'" in sql
        restored = sql
        for readme_value, bench_value in README_TO_BENCH.items():
            restored = restored.replace(bench_value, readme_value)
        assert restored == q["sql"].rstrip().rstrip(";")
