"""Read-only access to the warehouse, and the segments the page can be switched to.

Every query of the dashboard goes through :class:`Warehouse`: it knows which relations exist and
have rows, and which columns they have, so a loader can read a column by name and tolerate extra
ones (marts gain columns over time) or a missing optional one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class Warehouse:
    """Table discovery and small query helpers over one open DuckDB connection."""

    def __init__(self, con: Any) -> None:
        self.con = con
        rows = con.execute(
            "select schema_name, table_name from duckdb_tables() where database_name = current_database() "
            "union all select schema_name, view_name from duckdb_views() "
            "where database_name = current_database() and not internal"
        ).fetchall()
        self._relations = {(s.lower(), t.lower()): (s, t) for s, t in rows}
        self._columns: dict[str, set[str]] = {}
        self._nonempty: dict[str, bool] = {}

    def table(self, name: str) -> str | None:
        """Quoted ``schema.table`` when it exists and has rows, else None."""
        schema, _, table = name.partition(".")
        found = self._relations.get((schema.lower(), table.lower()))
        if found is None:
            return None
        quoted = f'"{found[0]}"."{found[1]}"'
        if quoted not in self._nonempty:
            try:
                self._nonempty[quoted] = self.con.execute(f"select 1 from {quoted} limit 1").fetchone() is not None
            except Exception:  # a view over files that are gone: as good as missing
                self._nonempty[quoted] = False
        return quoted if self._nonempty[quoted] else None

    def find(self, table: str, schemas: Iterable[str]) -> str | None:
        """The first of ``schema.table`` over ``schemas`` that exists and has rows."""
        for schema in schemas:
            found = self.table(f"{schema}.{table}")
            if found:
                return found
        return None

    def columns(self, quoted: str) -> set[str]:
        if quoted not in self._columns:
            cursor = self.con.execute(f"select * from {quoted} limit 0")
            self._columns[quoted] = {d[0].lower() for d in cursor.description}
        return self._columns[quoted]

    def rows(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        cursor = self.con.execute(sql, list(params))
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def scalar(self, sql: str, params: Iterable[Any] = ()) -> Any:
        row = self.con.execute(sql, list(params)).fetchone()
        return row[0] if row else None


def col(columns: set[str], name: str, alias: str | None = None, default: str = "null") -> str:
    """``name`` if the relation has it, else ``default``; always aliased."""
    alias = alias or name
    return f'"{name}" as "{alias}"' if name.lower() in columns else f'{default} as "{alias}"'


class Segments:
    """All products, every product group, every category inside its group; stable keys.

    Keys: ``all``, ``g<i>`` for the i-th group (sorted by name), ``g<i>c<j>`` for its j-th category.
    """

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        by_group: dict[str, set[str]] = {}
        for group, category in pairs:
            by_group.setdefault(group or "unknown", set()).add(category or "unknown")
        self.items: list[dict[str, Any]] = [
            {"key": "all", "level": "all", "label": "All products", "group": None, "category": None}
        ]
        self.group_key: dict[str, str] = {}
        self.category_key: dict[tuple[str, str], str] = {}
        for gi, group in enumerate(sorted(by_group)):
            key = f"g{gi}"
            self.group_key[group] = key
            self.items.append({"key": key, "level": "group", "label": group, "group": group, "category": None})
            for ci, category in enumerate(sorted(by_group[group])):
                ckey = f"g{gi}c{ci}"
                self.category_key[(group, category)] = ckey
                self.items.append(
                    {"key": ckey, "level": "category", "label": category, "group": group, "category": category}
                )
        self.by_key = {item["key"]: item for item in self.items}

    def key_of(self, grouping_group: int, grouping_category: int, group: Any, category: Any) -> str | None:
        """The key of a ``GROUPING SETS ((), (group), (group, category))`` row."""
        if grouping_group:
            return "all"
        if grouping_category:
            return self.group_key.get(group or "unknown")
        return self.category_key.get((group or "unknown", category or "unknown"))

    def keys_for_category_name(self, category: str) -> list[str]:
        """Every category key with this name (a name may appear in several groups)."""
        return [key for (_, c), key in self.category_key.items() if c == category]

    def full_label(self, key: str) -> str:
        item = self.by_key[key]
        return item["label"] if item["level"] != "category" else f"{item['group']} / {item['label']}"

    @property
    def groups(self) -> list[str]:
        return list(self.group_key)
