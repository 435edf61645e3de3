"""Runs SQL through lakegate with the Python ADBC Flight SQL driver.

Reads one JSON request from stdin: {"endpoint": "grpc://HOST:PORT",
"token": "...", "sql": "..."} and prints one JSON line: {"columns": [...],
"rows": [[...], ...]} or, for {"tables": "DB"} instead of "sql", the tables
that GetObjects shows in schema DB, {"tables": {"NAME": ["COLUMN", ...]}}; or {"error": "...", "kind": "invalid_argument" |
"permission_denied" | "failed_precondition" | "unauthenticated" | "other"}.
"""
import json
import sys
import warnings

warnings.simplefilter("ignore")

import adbc_driver_flightsql.dbapi as flightsql  # noqa: E402


def kind(message: str) -> str:
    m = message.upper()
    if "INVALID_ARGUMENT" in m or "INVALIDARGUMENT" in m:
        return "invalid_argument"
    if "FAILED_PRECONDITION" in m or "FAILEDPRECONDITION" in m:
        return "failed_precondition"
    if "UNAUTHENTICATED" in m:
        return "unauthenticated"
    if "UNAUTHORIZED" in m or "PERMISSION" in m:
        return "permission_denied"
    return "other"


def main() -> None:
    req = json.load(sys.stdin)
    try:
        conn = flightsql.connect(
            req["endpoint"],
            db_kwargs={"adbc.flight.sql.authorization_header": "Bearer " + req["token"]},
            autocommit=True,
        )
        if "tables" in req:
            objects = conn.adbc_get_objects(
                depth="all", db_schema_filter=req["tables"]
            ).read_all()
            tables = {}
            for catalog in objects.to_pylist():
                for schema in catalog["catalog_db_schemas"] or []:
                    if schema["db_schema_name"] != req["tables"]:
                        continue
                    for t in schema["db_schema_tables"] or []:
                        cols = t["table_columns"] or []
                        tables[t["table_name"]] = [c["column_name"] for c in cols]
            print(json.dumps({"tables": tables}))
            conn.close()
            return
        cur = conn.cursor()
        cur.execute(req["sql"])
        table = cur.fetch_arrow_table()
        rows = [list(r.values()) for r in table.to_pylist()]
        print(json.dumps({"columns": table.column_names, "rows": rows}, default=str))
        cur.close()
        conn.close()
    except Exception as e:  # noqa: BLE001 - report every failure to the runner
        print(json.dumps({"error": str(e), "kind": kind(str(e))}))


if __name__ == "__main__":
    main()
